package stream

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
)

// Sealer encrypts secrets (streams', alert channels') with AES-256-GCM
// under the server's stream key, bound to their purpose and to what they
// belong to (tenant and id), so that a sealed secret copied to another
// stream or rule does not open.
type Sealer struct {
	aead    cipher.AEAD
	purpose string
}

// newSealer returns the sealer of streams' secrets.
func newSealer(key []byte) (*Sealer, error) { return NewSealer(key, "auditkeep stream secret") }

// NewSealer returns a sealer under key for secrets of purpose (such as
// "auditkeep alert channel secret"): a secret sealed for one purpose does
// not open for another.
func NewSealer(key []byte, purpose string) (*Sealer, error) {
	if len(key) == 0 {
		return nil, errors.New("stream: no stream key")
	}
	k := sha256.Sum256(key)
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead, purpose: purpose}, nil
}

func (s *Sealer) aad(tenant, id string) []byte {
	return []byte(s.purpose + "\x00" + tenant + "\x00" + id)
}

// Seal returns the sealed secret ("" seals to nil).
func (s *Sealer) Seal(tenant, id, secret string) ([]byte, error) {
	if secret == "" {
		return nil, nil
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, []byte(secret), s.aad(tenant, id)), nil
}

// Open returns the secret sealed by Seal.
func (s *Sealer) Open(tenant, id string, sealed []byte) (string, error) {
	if len(sealed) == 0 {
		return "", nil
	}
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("stream: sealed secret too short")
	}
	b, err := s.aead.Open(nil, sealed[:n], sealed[n:], s.aad(tenant, id))
	if err != nil {
		return "", errors.New("stream: the secret does not open with this server's stream key")
	}
	return string(b), nil
}
