package auditkeep

import "context"

// EventJSONScanner is implemented by stores that export events without
// decoding and encoding each (both stores): ScanEventJSON is ScanEvents,
// but fn gets the JSON that encoding/json writes for the event (HTML
// escaping on, Hash empty), its seq, and the offset in the JSON where a
// "hash" member goes. js is valid until fn returns.
type EventJSONScanner interface {
	ScanEventJSON(ctx context.Context, tenant string, f Filter, fn func(seq int64, js []byte, hashAt int) error) error
}
