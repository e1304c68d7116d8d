// Package client is the Go SDK of auditkeep: a client of the HTTP API (v1),
// an asynchronous Recorder for platforms, and net/http Middleware that
// records every mutating API call.
//
// # Client
//
// A Client talks to one server with one key. Platforms send events with
// Ingest; tools read them with ListEvents, Events, GetEvent and Export;
// operators manage tenants and keys with the root key. Every method takes a
// context and returns an *APIError (which errors.As can find, and whose
// Unwrap gives an *auditkeep.Error for auditkeep.ErrorCode) when the server
// answers with an error status, and a wrapped transport error when it
// cannot be reached.
//
//	c := client.New("http://127.0.0.1:8080", os.Getenv("AUDITKEEP_KEY"))
//	res, err := c.Ingest(ctx, []auditkeep.Event{{Action: "token.create", Actor: auditkeep.Actor{ID: "usr_42"}}})
//
// # Recorder
//
// A Recorder keeps audit logging off a platform's request path: Record
// buffers the event and returns at once; one goroutine sends batches of up
// to 1,000 events (or whatever has waited FlushInterval) and retries
// temporary failures (transport errors, 429, 5xx) with exponential backoff
// and jitter, honouring Retry-After. Record gives each event its UUIDv7 ID
// and its time before buffering it, so a retry resends the very same event
// and the server, which acknowledges a known ID without storing it again,
// never duplicates it. Requests the server refuses (4xx other than 429) are
// not retried: a refused event is set aside and the rest of its batch sent.
//
// Nothing blocks the caller: when the buffer is full, Record drops the
// event and returns ErrBufferFull. Stats counts what was recorded, sent,
// dropped, refused and given up on, and OnDrop hears of every lost event.
// Flush waits for what has been recorded; Close flushes and stops.
//
//	rec := client.NewRecorder(c, client.RecorderOptions{})
//	defer rec.Close(ctx) // sends what is buffered
//	err := rec.Record(ctx, auditkeep.Event{Action: "project.create", Actor: actor})
//
// With RecorderOptions.Blocking, Record instead sends the event itself and
// returns only once it is durable, or with the error that prevented it, so
// that a platform can refuse an action it cannot audit (fail closed).
//
// # Middleware
//
// Middleware wraps a net/http handler, usually the http.ServeMux, and
// records an event for every POST, PUT, PATCH and DELETE: the action and
// target from the route pattern ("PUT /projects/{project}/environments/{env}"
// → environment.update of environment <env>, in project <project>), the
// type from the method, failure for 4xx and 5xx answers, the JSON response
// body as snapshot (from which the server computes the field-level changes
// against the target's previous snapshot, redacting secrets), the client
// IP (X-Forwarded-For or Forwarded read right to left, and only from
// TrustedProxies: see MiddlewareOptions), the user agent, and the
// source (the X-Audit-Source header, or terraform, cli, console or api from
// the user agent). The actor comes from MiddlewareOptions.Actor; Describe
// and Enrich, or Annotate from inside a handler, adjust the rest.
//
//	mux := http.NewServeMux()
//	mux.HandleFunc("PUT /projects/{project}/environments/{env}", updateEnvironment)
//	audit := client.Middleware(rec, client.MiddlewareOptions{
//		Actor: func(r *http.Request) auditkeep.Actor { return userFrom(r.Context()) },
//	})
//	http.ListenAndServe(":8090", authenticate(audit(mux)))
//
// The response passes through untouched: status, headers, body and
// flushes; the body is only copied, up to MaxSnapshotBytes.
package client
