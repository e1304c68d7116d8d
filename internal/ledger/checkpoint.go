package ledger

import (
	"bytes"
	"crypto/rand"
	"fmt"

	"github.com/auditkeep/auditkeep"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// DefaultOriginPrefix is prefixed to a tenant's ID to form the origin line of
// its checkpoints: "auditkeep/acme".
const DefaultOriginPrefix = "auditkeep/"

// Checkpoint is a signed tree head of one tenant's log, in the C2SP
// tlog-checkpoint format: a signed note whose text is the origin, the size in
// decimal and the base64 root hash, one per line.
type Checkpoint struct {
	Origin string // DefaultOriginPrefix + tenant, unless configured otherwise
	Size   uint64
	Root   []byte
	Note   []byte // the whole signed note, as served and stored
}

// Signer signs checkpoints; NewSigner makes one from a signer key.
type Signer = note.Signer

// Verifier checks checkpoint signatures; NewVerifier makes one from a
// verifier key.
type Verifier = note.Verifier

// GenerateKey returns a new Ed25519 key pair in the text form of
// golang.org/x/mod/sumdb/note: the signer key ("PRIVATE+KEY+name+…", kept
// secret by the server) and the verifier key ("name+hash+key", given to
// users for `auditkeep verify --key`). name names the log's key, e.g. the
// server's host name; it must be non-empty and hold no whitespace or '+'.
// Returns EINVALID for a bad name.
func GenerateKey(name string) (signerKey, verifierKey string, err error) {
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return "", "", &auditkeep.Error{Code: auditkeep.EINVALID, Field: "name", Message: fmt.Sprintf("key name %q is not valid", name), Err: err}
	}
	return skey, vkey, nil
}

// NewSigner parses a signer key made by GenerateKey. Returns EINVALID.
func NewSigner(signerKey string) (Signer, error) {
	s, err := note.NewSigner(signerKey)
	if err != nil {
		return nil, &auditkeep.Error{Code: auditkeep.EINVALID, Message: "signer key is not valid", Err: err}
	}
	return s, nil
}

// NewVerifier parses a verifier key made by GenerateKey. Returns EINVALID.
func NewVerifier(verifierKey string) (Verifier, error) {
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return nil, &auditkeep.Error{Code: auditkeep.EINVALID, Field: "key", Message: "verifier key is not valid (want name+hash+key)", Err: err}
	}
	return v, nil
}

// SignCheckpoint returns the signed note of the checkpoint (origin, size, root).
func SignCheckpoint(s Signer, origin string, size uint64, root []byte) ([]byte, error) {
	body := log.Checkpoint{Origin: origin, Size: size, Hash: root}.Marshal()
	msg, err := note.Sign(&note.Note{Text: string(body)}, s)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return msg, nil
}

// VerifyCheckpoint checks that text is a checkpoint note signed by the key
// verifierKey and returns it. Returns EINVALID for a bad key, a note not
// signed by that key, or a malformed checkpoint body.
func VerifyCheckpoint(text []byte, verifierKey string) (*Checkpoint, error) {
	v, err := NewVerifier(verifierKey)
	if err != nil {
		return nil, err
	}
	return verifyCheckpoint(text, v)
}

func verifyCheckpoint(text []byte, v Verifier) (*Checkpoint, error) {
	n, err := note.Open(text, note.VerifierList(v))
	if err != nil {
		return nil, &auditkeep.Error{Code: auditkeep.EINVALID, Message: "checkpoint is not signed by key " + v.Name(), Err: err}
	}
	return parseBody(n.Text, text)
}

// ParseCheckpoint reads a checkpoint note without checking its signature:
// for checkpoints read back from the server's own storage. Returns EINVALID
// when text is not a checkpoint note.
func ParseCheckpoint(text []byte) (*Checkpoint, error) {
	body, _, ok := bytes.Cut(text, []byte("\n\n"))
	if !ok {
		return nil, auditkeep.Errorf(auditkeep.EINVALID, "checkpoint note has no signature block")
	}
	return parseBody(string(body)+"\n", text)
}

func parseBody(body string, text []byte) (*Checkpoint, error) {
	var c log.Checkpoint
	if _, err := c.Unmarshal([]byte(body)); err != nil {
		return nil, &auditkeep.Error{Code: auditkeep.EINVALID, Message: "checkpoint is malformed", Err: err}
	}
	if len(c.Hash) != HashSize {
		return nil, auditkeep.Errorf(auditkeep.EINVALID, "checkpoint root hash is %d bytes, want %d", len(c.Hash), HashSize)
	}
	return &Checkpoint{Origin: c.Origin, Size: c.Size, Root: c.Hash, Note: bytes.Clone(text)}, nil
}
