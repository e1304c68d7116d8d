// Package transport delivers encoded batches of records to a stream's
// destination: a webhook, Splunk HEC, syslog or NATS JetStream.
package transport

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/auditkeep/auditkeep/internal/stream/format"
)

// Batch is what one Send delivers: records in stream order and, beside
// each, its bytes in the stream's format.
type Batch struct {
	// ID names the batch for the receiver's deduplication (webhook-id;
	// NATS names each record by stream_id.stream_seq instead, and only a
	// test record by ID): the same records sent again carry the same ID.
	ID       string
	Records  []format.Record
	Payloads [][]byte
}

// Transport sends batches to one destination. Send returns nil only when
// the receiver accepted every record of the batch; otherwise an *Error
// saying what the engine should do. A Transport is used by one goroutine
// at a time.
type Transport interface {
	Send(ctx context.Context, b *Batch) error
	Close() error
}

// Kind is what a failed delivery asks of the engine.
type Kind int

const (
	// Retry: try the same batch again after a backoff (5xx, 429,
	// timeouts, refused connections). RetryAfter, when set, is the
	// receiver's own wait.
	Retry Kind = iota
	// TooLarge: the receiver refused the batch for its size (413): split
	// it and send the halves. A batch of one that is too large is Permanent.
	TooLarge
	// Auth: the receiver refused the credentials (401, 403): the stream
	// goes to state auth_error until an admin changes or resumes it.
	Auth
	// Permanent: the receiver refused the content for good (other 4xx):
	// the stream goes to state failing and keeps retrying with backoff.
	Permanent
)

// Error is a failed delivery.
type Error struct {
	Kind       Kind
	Status     int           // the HTTP status, 0 for other transports
	RetryAfter time.Duration // the receiver's Retry-After, 0 when absent
	Message    string        // what to show as the stream's last_error
}

func (e *Error) Error() string { return e.Message }

// Options are settings every transport takes from the server.
type Options struct {
	Timeout time.Duration // one Send's deadline; 0 means 10 s
	// Host is the name the server reports itself as (HEC host, syslog
	// HOSTNAME).
	Host string
}

// Factory opens a transport from a stream's type-specific settings (the
// JSON object the API took) and its secret. It returns an
// *auditkeep.Error with code EINVALID naming the field ("settings.url",
// "secret") for settings it refuses. A Factory does not connect: a
// transport connects on its first Send, and again after a failed one.
type Factory func(settings json.RawMessage, secret string, opts Options) (Transport, error)

// Types lists the transports, in the order the API documents them.
var Types = []string{"webhook", "splunk_hec", "syslog", "nats"}

var factories = map[string]Factory{}

// Register makes a transport known by its type; each transport's file
// calls it from init.
func Register(typ string, f Factory) { factories[typ] = f }

// Open opens a transport of the type.
func Open(typ string, settings json.RawMessage, secret string, opts Options) (Transport, error) {
	f, ok := factories[typ]
	if !ok {
		return nil, fmt.Errorf("transport: unknown type %q", typ)
	}
	return f(settings, secret, opts)
}

// Validate checks a stream's settings without keeping the transport open.
func Validate(typ string, settings json.RawMessage, secret string) error {
	t, err := Open(typ, settings, secret, Options{})
	if err != nil {
		return err
	}
	return t.Close()
}
