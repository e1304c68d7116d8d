package transport

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
)

// decodeSettings decodes a stream's settings into v, a pointer to a struct
// with json tags, refusing members v has no field for: the error names the
// field ("settings.<name>").
func decodeSettings(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		raw = json.RawMessage("{}")
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te) && te.Field != "":
			return auditkeep.FieldErrorf("settings."+te.Field, "settings.%s must be a %s", te.Field, jsonKind(te.Type.Kind().String()))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return auditkeep.FieldErrorf("settings."+name, "settings.%s is not a setting of this stream type", name)
		}
		return auditkeep.FieldErrorf("settings", "settings must be a JSON object: %v", err)
	}
	return nil
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "struct", "map":
		return "object"
	case "slice":
		return "list"
	}
	return "number"
}

// TLSSettings are the TLS settings of the transports that take them.
type TLSSettings struct {
	// CA is PEM certificates to trust instead of the system's roots (a
	// receiver with a private CA or a self-signed certificate).
	CA string `json:"ca,omitempty"`
	// ServerName is the name to check the receiver's certificate for,
	// when not the host of its address.
	ServerName string `json:"server_name,omitempty"`
}

// config returns the TLS configuration for a receiver at host, or an
// EINVALID error naming settings.ca.
func (s TLSSettings) config(host string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if s.ServerName != "" {
		c.ServerName = s.ServerName
	}
	if s.CA != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(s.CA)) {
			return nil, auditkeep.FieldErrorf("settings.ca", "settings.ca holds no PEM certificate")
		}
		c.RootCAs = pool
	}
	return c, nil
}

const defaultTimeout = 10 * time.Second

// timeout is the deadline of one Send.
func (o Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return defaultTimeout
}

// retryf returns a Retry *Error with a formatted message, the kind of
// failure a network error is.
func retryf(format string, args ...any) *Error {
	return &Error{Kind: Retry, Message: fmt.Sprintf(format, args...)}
}
