// Package oidctest runs a real OpenID provider on loopback for tests: the
// provider of github.com/zitadel/oidc (its op package, over the in-memory
// storage that library ships), with a sign-in form of users given by the
// test whose ID tokens carry their name, email and groups.
package oidctest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// User is a person the provider signs in with Username and Password.
type User struct {
	ID       string // the ID token's subject
	Username string
	Password string
	Name     string
	Email    string
	Groups   []string // the ID token's groups claim
	// EmailUnverified makes the ID token's email_verified false.
	EmailUnverified bool
}

// Provider is a running OpenID provider.
type Provider struct {
	Issuer       string // http://127.0.0.1:port
	ClientID     string
	ClientSecret string

	mu    sync.Mutex
	users map[string]*User // by ID
}

// Start runs a provider on a loopback port until the test ends, with one
// confidential client that may redirect to redirectURL.
func Start(t testing.TB, redirectURL string, users ...User) *Provider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{Issuer: "http://" + ln.Addr().String(), ClientID: "auditkeep-console", ClientSecret: "console-secret-for-tests",
		users: map[string]*User{}}
	for i := range users {
		u := users[i]
		p.users[u.ID] = &u
	}
	client := storage.WebClient(p.ClientID, p.ClientSecret, redirectURL)
	st := &groupsStorage{Storage: storage.NewStorageWithClients(userStore{p}, map[string]*storage.Client{p.ClientID: client}), p: p}
	key := sha256.Sum256([]byte("oidctest"))
	provider, err := op.NewProvider(&op.Config{CryptoKey: key, CodeMethodS256: true, SupportedUILocales: []language.Tag{language.English}},
		st, op.StaticIssuer(p.Issuer), op.WithAllowInsecure(), op.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	login := &loginForm{st: st, callback: op.AuthCallbackURL(provider)}
	interceptor := op.NewIssuerInterceptor(provider.IssuerFromRequest)
	mux.HandleFunc("GET /login/username", login.show)
	mux.Handle("POST /login/username", interceptor.HandlerFunc(login.check))
	mux.Handle("/", provider)
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

// SetGroups replaces a user's groups, for the next sign-in.
func (p *Provider) SetGroups(userID string, groups ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.users[userID].Groups = groups
}

func (p *Provider) user(id string) (User, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u, ok := p.users[id]
	if !ok {
		return User{}, false
	}
	return *u, true
}

// userStore gives the library's storage the test's users.
type userStore struct{ p *Provider }

func (s userStore) GetUserByID(id string) *storage.User {
	u, ok := s.p.user(id)
	if !ok {
		return nil
	}
	return &storage.User{ID: u.ID, Username: u.Username, Password: u.Password, FirstName: u.Name, Email: u.Email,
		EmailVerified: true, PreferredLanguage: language.English}
}

func (s userStore) GetUserByUsername(name string) *storage.User {
	s.p.mu.Lock()
	var id string
	for _, u := range s.p.users {
		if u.Username == name {
			id = u.ID
		}
	}
	s.p.mu.Unlock()
	if id == "" {
		return nil
	}
	return s.GetUserByID(id)
}

func (s userStore) ExampleClientID() string { return "service" }

// groupsStorage puts the user's name, email and groups in every ID token.
type groupsStorage struct {
	*storage.Storage
	p *Provider
}

func (s *groupsStorage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, info, req, scopes); err != nil {
		return err
	}
	u, ok := s.p.user(req.GetSubject())
	if !ok {
		return fmt.Errorf("no user %q", req.GetSubject())
	}
	info.Subject, info.Name, info.Email = u.ID, u.Name, u.Email
	if u.EmailUnverified {
		info.AppendClaims("email_verified", false) // the field's false is left out
	} else {
		info.EmailVerified = true
	}
	groups := u.Groups
	if groups == nil {
		groups = []string{}
	}
	info.AppendClaims("groups", groups)
	return nil
}

// loginForm is the provider's own sign-in page.
type loginForm struct {
	st       *groupsStorage
	callback func(context.Context, string) string
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test identity provider</title></head><body>
<main><h1>Test identity provider</h1>
{{if .Error}}<p id="error">{{.Error}}</p>{{end}}
<form method="post" action="/login/username">
<input type="hidden" name="id" value="{{.ID}}">
<label>Username <input id="username" name="username"></label>
<label>Password <input id="password" name="password" type="password"></label>
<button id="submit" type="submit">Sign in</button>
</form></main></body></html>`))

func (l *loginForm) show(w http.ResponseWriter, r *http.Request) {
	loginPage.Execute(w, map[string]string{"ID": r.URL.Query().Get("authRequestID")})
}

func (l *loginForm) check(w http.ResponseWriter, r *http.Request) {
	id := r.FormValue("id")
	if err := l.st.CheckUsernamePassword(r.FormValue("username"), r.FormValue("password"), id); err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		loginPage.Execute(w, map[string]string{"ID": id, "Error": err.Error()})
		return
	}
	http.Redirect(w, r, l.callback(r.Context(), id), http.StatusFound)
}
