package auditkeep

import (
	"context"
	"encoding/json"
	"time"
)

// Stream states.
const (
	StreamActive    = "active"     // delivering, or waiting for events
	StreamPaused    = "paused"     // stopped by an admin; holds no event from retention
	StreamFailing   = "failing"    // the last delivery failed; retrying with backoff
	StreamAuthError = "auth_error" // the receiver refused the credentials; stopped until changed or resumed
)

// StreamStates lists the states, in the order the API documents them.
var StreamStates = []string{StreamActive, StreamPaused, StreamFailing, StreamAuthError}

// Stream is a tenant's destination of its events (a SIEM): what it
// receives (Filters, Format), how (Type, Settings, Secret) and how far it
// has got (Cursor, StreamSeq).
type Stream struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	Name   string `json:"name"`
	Type   string `json:"type"`   // webhook, splunk_hec, syslog, nats
	Format string `json:"format"` // native, ocsf, ecs, cef
	// Filters are the filter parameters as GET /v1/events takes them (q
	// included), each with its values.
	Filters  map[string][]string `json:"filters"`
	Settings json.RawMessage     `json:"settings"` // the type's own settings
	// Secret is the sealed secret (encrypted by the server's stream key);
	// never shown.
	Secret []byte `json:"-"`

	State         string    `json:"state"`
	Cursor        int64     `json:"cursor"`     // the tenant's log has been considered up to this seq
	StreamSeq     int64     `json:"stream_seq"` // the last stream_seq the receiver accepted
	LastSuccessAt time.Time `json:"last_success_at,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
	LastErrorAt   time.Time `json:"last_error_at,omitzero"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	// Version counts the changes of the stream's configuration (name,
	// filters, format, settings, secret, state) and replays; a deliverer
	// reloads when it moves.
	Version int64 `json:"version"`
}

// StreamPosition is how far a stream has got: the seq of the tenant's log
// considered up to, and the last stream_seq accepted.
type StreamPosition struct {
	Cursor    int64
	StreamSeq int64
}

// StreamStore keeps streams and their delivery positions. Delivery calls
// (LeaseStream, AdvanceStream, FailStream) name the owner, the node that
// holds the stream's lease: exactly one node delivers a stream at a time.
type StreamStore interface {
	// CreateStream stores a new stream (ID, Tenant set). Returns ECONFLICT
	// when the ID is taken, ENOTFOUND for an unknown tenant.
	CreateStream(ctx context.Context, s *Stream) error
	// GetStream returns the tenant's stream. Returns ENOTFOUND.
	GetStream(ctx context.Context, tenant, id string) (*Stream, error)
	// ListStreams returns the tenant's streams, oldest first; tenant ""
	// lists every tenant's.
	ListStreams(ctx context.Context, tenant string) ([]*Stream, error)
	// UpdateStream stores s's name, type, format, filters, settings,
	// secret, state and UpdatedAt, and increments its Version, provided the
	// stored Version is still s.Version (s gets the new one). The position
	// is left as stored (see ReplayStream). Returns ENOTFOUND, ECONFLICT
	// when the stream changed meanwhile.
	UpdateStream(ctx context.Context, s *Stream) error
	// ReplayStream moves the stream's cursor to cursor (its stream seq
	// goes on from where it is: replayed events get new stream seqs) and
	// increments its Version. Returns ENOTFOUND.
	ReplayStream(ctx context.Context, tenant, id string, cursor int64, at time.Time) error
	// DeleteStream deletes the tenant's stream. Returns ENOTFOUND.
	DeleteStream(ctx context.Context, tenant, id string) error

	// LeaseStream takes or renews the stream's lease for owner, for ttl
	// by the store's clock, unless another owner holds an unexpired one;
	// it reports whether owner holds it now. Returns ENOTFOUND.
	LeaseStream(ctx context.Context, tenant, id, owner string, ttl time.Duration) (bool, error)
	// ReleaseStream gives up owner's lease, if owner holds it.
	ReleaseStream(ctx context.Context, tenant, id, owner string) error
	// AdvanceStream moves the stream from position from to position to
	// after a delivery the receiver accepted at: it sets last_success_at,
	// and state active where it was failing. Returns ECONFLICT, changing
	// nothing, when owner does not hold the lease or the stored position
	// is not from (a replay, another node); ENOTFOUND.
	AdvanceStream(ctx context.Context, tenant, id, owner string, from, to StreamPosition, at time.Time) error
	// FailStream records a failed delivery: last_error and last_error_at,
	// and state (failing or auth_error) where the stream is active or
	// failing (a paused stream stays paused). Returns ECONFLICT when owner
	// does not hold the lease; ENOTFOUND.
	FailStream(ctx context.Context, tenant, id, owner, state, message string, at time.Time) error
}
