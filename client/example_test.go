package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/client"
)

type userKey struct{}

// ExampleMiddleware audits every mutating call of a platform's API.
func ExampleMiddleware() {
	ctx := context.Background()
	c := client.New("http://127.0.0.1:8080", os.Getenv("AUDITKEEP_KEY"))
	rec := client.NewRecorder(c, client.RecorderOptions{})
	defer rec.Close(ctx)

	mux := http.NewServeMux()
	mux.HandleFunc("PUT /projects/{project}/environments/{env}", func(w http.ResponseWriter, r *http.Request) {
		// … update the environment, then answer with its new state, which
		// becomes the event's snapshot.
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%q,"name":"production"}`, r.PathValue("env"))
	})

	audit := client.Middleware(rec, client.MiddlewareOptions{
		// Who is calling: set by the authentication middleware outside.
		Actor: func(r *http.Request) auditkeep.Actor {
			a, _ := r.Context().Value(userKey{}).(auditkeep.Actor)
			return a
		},
		// The load balancers in front of the service.
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	})
	authenticate := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u := auditkeep.Actor{Type: auditkeep.ActorUser, ID: "usr_42", Email: "alice@example.com"}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
		})
	}
	// PUT /projects/prj_1/environments/env_7 is recorded as
	// environment.update of environment env_7 in project prj_1.
	log.Fatal(http.ListenAndServe("127.0.0.1:8090", authenticate(audit(mux))))
}

// ExampleRecorder_Record records an event without waiting for the server.
func ExampleRecorder_Record() {
	ctx := context.Background()
	c := client.New("http://127.0.0.1:8080", os.Getenv("AUDITKEEP_KEY"))
	rec := client.NewRecorder(c, client.RecorderOptions{
		OnDrop: func(events []auditkeep.Event, err error) {
			log.Printf("audit: %d events lost: %v", len(events), err)
		},
	})

	err := rec.Record(ctx, auditkeep.Event{
		Action: "token.create",
		Actor:  auditkeep.Actor{Type: auditkeep.ActorUser, ID: "usr_42", Name: "Alice Martin"},
		Target: &auditkeep.Target{Type: "token", ID: "tok_9", Name: "ci"},
		Source: "console",
	})
	if errors.Is(err, client.ErrBufferFull) {
		// The server has been unreachable long enough to fill the buffer:
		// the event is dropped (and counted) rather than blocking the caller.
		log.Print(err)
	}

	// At shutdown, send what is buffered, for at most ten seconds.
	shutdown, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := rec.Close(shutdown); err != nil {
		log.Print(err)
	}
	log.Printf("audit: %+v", rec.Stats())
}

// ExampleRecorderOptions_blocking refuses an action that cannot be audited.
func ExampleRecorderOptions_blocking() {
	ctx := context.Background()
	c := client.New("http://127.0.0.1:8080", os.Getenv("AUDITKEEP_KEY"))
	rec := client.NewRecorder(c, client.RecorderOptions{Blocking: true})
	defer rec.Close(ctx)

	revealSecret := func(ctx context.Context, user auditkeep.Actor, name string) (string, error) {
		err := rec.Record(ctx, auditkeep.Event{
			Action: "secret.reveal", Type: auditkeep.TypeRead, Actor: user,
			Target: &auditkeep.Target{Type: "secret", ID: name},
		})
		if err != nil {
			return "", fmt.Errorf("not revealed: the audit log is unavailable: %w", err)
		}
		return "…", nil // the event is stored durably: go ahead
	}
	_, err := revealSecret(ctx, auditkeep.Actor{ID: "usr_42"}, "DATABASE_PASSWORD")
	if err != nil {
		log.Print(err)
	}
}

// ExampleAnnotate completes a recorded event from inside the handler: here
// the state of an object about to be deleted, which the response does not
// show.
func ExampleAnnotate() {
	type service struct {
		ID, Name string
	}
	services := map[string]service{"svc_1": {"svc_1", "api"}}
	deleteService := func(w http.ResponseWriter, r *http.Request) {
		s := services[r.PathValue("service")]
		client.Annotate(r.Context(), func(e *auditkeep.Event) {
			e.Target.Name = s.Name
			e.Before = []byte(fmt.Sprintf(`{"id":%q,"name":%q}`, s.ID, s.Name))
		})
		delete(services, s.ID)
		w.WriteHeader(http.StatusNoContent)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("DELETE /projects/{project}/services/{service}", deleteService)
	_ = mux // wrapped by client.Middleware as in the Middleware example
}

func ExampleSourceFromUserAgent() {
	for _, ua := range []string{
		"Terraform/1.9.5 (+https://www.terraform.io) terraform-provider-acme/2.1.0",
		"curl/8.5.0",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
		"python-requests/2.32.3",
	} {
		fmt.Println(client.SourceFromUserAgent(ua))
	}
	// Output:
	// terraform
	// cli
	// console
	// api
}
