package httpapi

import (
	"context"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
)

// An open stream outlives the request that authenticated it, so it watches
// its credential: it ends at once when the credential is revoked through
// this node, at the credential's expiry, and when a re-check (at least every
// StreamLimits.Recheck, reading the store past every cache) finds it no
// longer holds — which is how revocations made on other nodes arrive.

// streamEnd says why an open stream's credential stopped holding; it is the
// data of the stream's final `event: end`.
type streamEnd struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func (e *streamEnd) Error() string { return e.Message }

// Reasons of a stream's end event.
const (
	endKeyRevoked   = "key_revoked"   // the API key was revoked (or deleted)
	endTokenExpired = "token_expired" // the viewer token reached its expiry
	endKeyExpired   = "key_expired"   // the API key reached its expiry
	endSessionEnded = "session_ended" // the console session was signed out or expired
)

// A credentialCheck re-validates the credential an open request was
// authenticated with, reading it from the store past every cache. It returns
// nil while the credential holds, the end once it does not, and an error
// when it cannot tell (EUNAVAILABLE when storage fails).
type credentialCheck func(ctx context.Context) (*streamEnd, error)

// credentialWatch is what an open stream watches to end when its
// credential does. The zero value watches nothing.
type credentialWatch struct {
	// checks run when the stream opens and at least every Recheck after;
	// the first end one returns ends the stream.
	checks []credentialCheck
	// names are the credential's names in the revocation notices of the
	// stream hub (revokeCredential): a notice for any of them ends the
	// stream at once.
	names []string
	// expires is when the credential lapses on its own (zero: never), by
	// the server's clock; expiry is the end it gives.
	expires time.Time
	expiry  streamEnd
}

// credentialWatch returns the watch of p's credential: for an API key, its
// revocation; for a viewer token, its expiry; for a console session, its
// sign-out and expiry too.
func (s *Server) credentialWatch(p principal) credentialWatch {
	var w credentialWatch
	if k := p.key; k != nil {
		w.names = append(w.names, keyCredential(k.Tenant, k.ID))
		w.checks = append(w.checks, s.recheckKey(k.Hash))
		if k.ExpiresAt != nil {
			w.expires = *k.ExpiresAt
			w.expiry = streamEnd{Reason: endKeyExpired, Message: expiredKey(k).Error()}
		}
	}
	if p.session != "" && s.browser.console != nil {
		w.names = append(w.names, sessionCredential(p.session))
		w.checks = append(w.checks, s.recheckSession(p.session))
	}
	if g := p.viewer; g != nil {
		w.expires = g.expires
		w.expiry = streamEnd{Reason: endTokenExpired,
			Message: "the viewer token expired at " + g.expires.UTC().Format(time.RFC3339)}
	}
	return w
}

// keyCredential names an API key in revocation notices.
func keyCredential(tenant, id string) string { return "key:" + tenant + "/" + id }

var keyRevokedEnd = streamEnd{Reason: endKeyRevoked, Message: "the API key was revoked"}

// recheckKey reads the key of hash from the store (and refreshes the key
// cache with it): the stream ends when the key is revoked or gone.
func (s *Server) recheckKey(hash string) credentialCheck {
	return func(ctx context.Context) (*streamEnd, error) {
		now := time.Now()
		k, err := s.store.KeyByHash(ctx, hash)
		if auditkeep.ErrorCode(err) == auditkeep.ENOTFOUND {
			end := keyRevokedEnd
			return &end, nil
		}
		if err != nil {
			return nil, err
		}
		s.keys.put(hash, k, now)
		if k.RevokedAt != nil {
			end := keyRevokedEnd
			return &end, nil
		}
		return nil, nil
	}
}

// sessionCredential names a console session in revocation notices.
func sessionCredential(id string) string { return "session:" + id }

// recheckSession reads the console session with the ID from the store: the
// stream ends when it was signed out (on any node), ended with its key, or
// expired.
func (s *Server) recheckSession(id string) credentialCheck {
	return func(ctx context.Context) (*streamEnd, error) {
		ok, reason, err := s.browser.console.SessionValid(ctx, id)
		if err != nil || ok {
			return nil, err
		}
		return &streamEnd{Reason: endSessionEnded, Message: reason}, nil
	}
}

// endConsoleSession ends at once the open streams of this node that the
// console session with the ID opened; the console calls it at sign-out.
func (s *Server) endConsoleSession(id string) {
	s.revokeCredential(sessionCredential(id), streamEnd{Reason: endSessionEnded, Message: "signed out of the console"})
}

// revokeCredential ends at once, with end, the open streams of this node
// whose credential is called name. The handler that revokes a credential
// calls it after the revocation is stored.
func (s *Server) revokeCredential(name string, end streamEnd) {
	s.browser.hub.revoke(name, end)
}

// revocation is one stream's subscription to revocation notices: c is
// closed, after end is set, at the first notice.
type revocation struct {
	c    chan struct{}
	once sync.Once
	end  streamEnd
}

// watchRevocations subscribes to the revocation notices of names; stop
// ends the subscription.
func (h *streamHub) watchRevocations(names []string) (rv *revocation, stop func()) {
	rv = &revocation{c: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.revocations == nil {
		h.revocations = map[string]map[*revocation]struct{}{}
	}
	for _, n := range names {
		subs := h.revocations[n]
		if subs == nil {
			subs = map[*revocation]struct{}{}
			h.revocations[n] = subs
		}
		subs[rv] = struct{}{}
	}
	return rv, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, n := range names {
			delete(h.revocations[n], rv)
			if len(h.revocations[n]) == 0 {
				delete(h.revocations, n)
			}
		}
	}
}

// revoke notifies the subscribers of name.
func (h *streamHub) revoke(name string, end streamEnd) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for rv := range h.revocations[name] {
		rv.once.Do(func() {
			rv.end = end
			close(rv.c)
		})
	}
}
