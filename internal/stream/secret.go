package stream

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
)

// sealer encrypts streams' secrets with AES-256-GCM under the server's
// stream key, bound to the stream (tenant and id) they belong to, so that
// a sealed secret copied to another stream does not open.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
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
	return &sealer{aead: aead}, nil
}

func streamAAD(tenant, id string) []byte {
	return []byte("auditkeep stream secret\x00" + tenant + "\x00" + id)
}

// seal returns the sealed secret ("" seals to nil).
func (s *sealer) seal(tenant, id, secret string) ([]byte, error) {
	if secret == "" {
		return nil, nil
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, []byte(secret), streamAAD(tenant, id)), nil
}

// open returns the secret sealed by seal.
func (s *sealer) open(tenant, id string, sealed []byte) (string, error) {
	if len(sealed) == 0 {
		return "", nil
	}
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("stream: sealed secret too short")
	}
	b, err := s.aead.Open(nil, sealed[:n], sealed[n:], streamAAD(tenant, id))
	if err != nil {
		return "", errors.New("stream: the secret does not open with this server's stream key")
	}
	return string(b), nil
}
