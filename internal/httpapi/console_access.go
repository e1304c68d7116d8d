package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
)

// SessionTimeouts returns the tenant's console session timeouts, from its
// settings.
func (b consoleBackend) SessionTimeouts(ctx context.Context, tenant string) (idle, absolute time.Duration, err error) {
	a, err := b.s.access(ctx, tenant)
	if err != nil {
		return 0, 0, err
	}
	return a.idle(), a.absolute(), nil
}

// SignedIn records a console sign-in with an API key in the key's tenant:
// console.sign_in, type login, status failure with the reason when it was
// refused. A credential that is no tenant's key (unknown, the root key, a
// viewer token) has no tenant's log to go to; it is logged here.
func (b consoleBackend) SignedIn(r *http.Request, cred, failure string) {
	cred = strings.TrimSpace(cred)
	var k *auditkeep.APIKey
	if !strings.HasPrefix(cred, viewerTokenPrefix) {
		k, _ = b.s.store.KeyByHash(r.Context(), HashKey(cred))
	}
	if k == nil {
		if failure != "" {
			b.s.log.Info("console sign-in refused", "reason", failure, "ip", clientIP(r))
		}
		return
	}
	actor := actorOf(principal{key: k})
	a := Audit{Action: "console.sign_in", Type: auditkeep.TypeLogin, Actor: &actor,
		Target:      &auditkeep.Target{Type: "api_key", ID: k.ID, Name: k.Name},
		Description: "Signed in to the console with API key '" + k.Name + "'"}
	if failure != "" {
		a.Failed = true
		a.Description = "Refused a console sign-in with API key '" + k.Name + "': " + failure
		a.Metadata = map[string]any{"reason": failure}
	}
	b.s.recordLogged(r, k.Tenant, a)
}
