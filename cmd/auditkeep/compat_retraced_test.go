package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

// What Retraced's clients send, and how they check the answer, copied from
// the clients themselves so that the test holds the server to them:
// retracedhq/retraced-go (client.go ReportEvent, event.go Event and
// BuildHashTarget, graphql.go searchTmplSource and EventsConnection.call,
// viewer_token.go) and retracedhq/retraced-js (src/retraced-js.ts
// reportEvent/reportEvents/getViewerToken, src/event.ts buildHashTarget).

// rgoEvent is retraced-go's Event, with its JSON tags.
type rgoEvent struct {
	Action      string            `json:"action"`
	Group       *rgoGroup         `json:"group,omitempty"`
	Created     time.Time         `json:"created"`
	CRUD        string            `json:"crud"`
	Target      *rgoTarget        `json:"target,omitempty"`
	Description string            `json:"description,omitempty"`
	SourceIP    string            `json:"source_ip,omitempty"`
	Actor       *rgoActor         `json:"actor,omitempty"`
	Fields      map[string]string `json:"fields,omitempty"`
	IsFailure   bool              `json:"is_failure,omitempty"`
	IsAnonymous bool              `json:"is_anonymous,omitempty"`
	Component   string            `json:"component,omitempty"`
	Version     string            `json:"version,omitempty"`
	ExternalID  string            `json:"external_id,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

type rgoGroup struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type rgoActor struct {
	ID     string            `json:"id"`
	Name   string            `json:"name,omitempty"`
	Href   string            `json:"href,omitempty"`
	Fields map[string]string `json:"fields,omitempty"`
}

type rgoTarget struct {
	ID     string            `json:"id"`
	Name   string            `json:"name,omitempty"`
	Type   string            `json:"type,omitempty"`
	Href   string            `json:"href,omitempty"`
	Fields map[string]string `json:"fields,omitempty"`
}

// rgoHashTarget is retraced-go's BuildHashTarget.
func rgoHashTarget(event *rgoEvent, id string) string {
	concat := &bytes.Buffer{}
	fmt.Fprintf(concat, "%s:", rgoPassOne(id))
	fmt.Fprintf(concat, "%s:", rgoPassOne(event.Action))
	targetID := ""
	if event.Target != nil {
		targetID = event.Target.ID
	}
	fmt.Fprintf(concat, "%s:", rgoPassOne(targetID))
	actorID := ""
	if event.Actor != nil {
		actorID = event.Actor.ID
	}
	fmt.Fprintf(concat, "%s:", rgoPassOne(actorID))
	groupID := ""
	if event.Group != nil {
		groupID = event.Group.ID
	}
	fmt.Fprintf(concat, "%s:", rgoPassOne(groupID))
	fmt.Fprintf(concat, "%s:", rgoPassOne(event.SourceIP))
	if event.IsFailure {
		fmt.Fprint(concat, "1:")
	} else {
		fmt.Fprint(concat, "0:")
	}
	if event.IsAnonymous {
		fmt.Fprint(concat, "1:")
	} else {
		fmt.Fprint(concat, "0:")
	}
	writePairs := func(m map[string]string) {
		keys := []string{}
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(concat, "%s=%s;", rgoPassTwo(rgoPassOne(k)), rgoPassTwo(rgoPassOne(m[k])))
		}
	}
	if len(event.Fields) == 0 {
		fmt.Fprintf(concat, ":")
	} else {
		writePairs(event.Fields)
	}
	if event.ExternalID != "" {
		fmt.Fprintf(concat, ":%s", rgoPassOne(event.ExternalID))
	}
	if len(event.Metadata) > 0 {
		fmt.Fprintf(concat, ":")
		writePairs(event.Metadata)
	}
	return concat.String()
}

func rgoPassOne(in string) string {
	return strings.Replace(strings.Replace(in, "%", "%25", -1), ":", "%3A", -1)
}

func rgoPassTwo(in string) string {
	return strings.Replace(strings.Replace(in, "=", "%3D", -1), ";", "%3B", -1)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// rjsHashTarget is retraced-js's buildHashTarget over the event as the
// client holds it (a decoded JSON object): `_.isEmpty` for target, actor,
// group and source_ip, truthiness for the flags, `!event.fields` and
// `if (event.metadata)` for the maps.
func rjsHashTarget(ev map[string]any, id string) string {
	str := func(v any) string { s, _ := v.(string); return s }
	sub := func(name string) string {
		m, _ := ev[name].(map[string]any)
		if len(m) == 0 {
			return ":"
		}
		return rgoPassOne(str(m["id"])) + ":"
	}
	s := rgoPassOne(id) + ":" + rgoPassOne(str(ev["action"])) + ":" + sub("target") + sub("actor") + sub("group")
	s += rgoPassOne(str(ev["source_ip"])) + ":"
	for _, f := range []string{"is_failure", "is_anonymous"} {
		if b, _ := ev[f].(bool); b {
			s += "1:"
		} else {
			s += "0:"
		}
	}
	pairs := func(m map[string]any) {
		keys := []string{}
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			s += rgoPassTwo(rgoPassOne(k)) + "=" + rgoPassTwo(rgoPassOne(str(m[k]))) + ";"
		}
	}
	if f, ok := ev["fields"].(map[string]any); !ok {
		s += ":"
	} else {
		pairs(f)
	}
	if x := str(ev["external_id"]); x != "" {
		s += ":" + rgoPassOne(x)
	}
	if m, ok := ev["metadata"].(map[string]any); ok {
		s += ":"
		pairs(m)
	}
	return s
}

// retracedGoPost sends body as retraced-go's ReportEvent does.
func retracedGoPost(t *testing.T, u, key string, body any) response {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", u, bytes.NewBuffer(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", fmt.Sprintf("Token token=%s", key))
	return roundTrip(t, req)
}

// retracedJSPost sends body as retraced-js's reportEvent(s) does (axios:
// JSON, Accept, "token=<key>").
func retracedJSPost(t *testing.T, u, key string, body string) response {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "token="+key)
	return roundTrip(t, req)
}

// retracedErrorOf reads Retraced's error body.
func retracedErrorOf(t *testing.T, r response) (status int, msg string, invalid []map[string]any) {
	t.Helper()
	var e struct {
		Status  int              `json:"status"`
		Type    string           `json:"type"`
		Error   string           `json:"error"`
		Invalid []map[string]any `json:"invalid"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Type != "Error" || e.Error == "" || e.Status != r.status {
		t.Fatalf("status %d: body %s is not Retraced's error shape", r.status, r.body)
	}
	return e.Status, e.Error, e.Invalid
}

func TestRetracedPublisherAPI(t *testing.T) { forEachStore(t, testRetracedPublisherAPI) }

func testRetracedPublisherAPI(t *testing.T, cfg Config) {
	a := testServer(t, cfg)
	base := a.URL()
	admin := setupTenant(t, base, "acme")
	setupTenant(t, base, "globex")
	ingestKey := createKey(t, base, testRootKey, "acme", "ingest")
	readKey := createKey(t, base, testRootKey, "acme", "read")
	// The client's Endpoint is the one setting that changes: base + "/auditlog".
	project := base + "/auditlog/publisher/v1/project/acme"

	// retraced-go: one event, every field, values that need escaping.
	goEvent := &rgoEvent{
		Action:      "document.update",
		Group:       &rgoGroup{ID: "grp_1", Name: "Shop"},
		Created:     time.Date(2026, 11, 20, 9, 30, 0, 123000000, time.UTC),
		CRUD:        "u",
		Target:      &rgoTarget{ID: "doc:7", Name: "Q3 plan", Type: "document", Href: "https://app.example/docs/7", Fields: map[string]string{"size": "12"}},
		Description: "Alice updated Q3 plan",
		SourceIP:    "203.0.113.7",
		Actor:       &rgoActor{ID: "usr_1", Name: "alice@example.com", Href: "https://app.example/u/1"},
		Fields:      map[string]string{"section": "a=b;c", "ratio": "50%", "when": "09:30"},
		IsFailure:   true,
		Component:   "editor",
		Version:     "abc123",
		ExternalID:  "ext:1",
		Metadata:    map[string]string{"request": "req_9"},
	}
	r := retracedGoPost(t, project+"/event", ingestKey, goEvent)
	if r.status != 201 {
		t.Fatalf("retraced-go ReportEvent: %d %s; want 201", r.status, r.body)
	}
	var created struct{ ID, Hash string }
	json.Unmarshal(r.body, &created)
	if want := sha256Hex(rgoHashTarget(goEvent, created.ID)); created.ID == "" || created.Hash != want {
		t.Fatalf("ReportEvent answer %s; retraced-go's VerifyHash wants hash %s for id %q", r.body, want, created.ID)
	}
	// Sent again (same external_id): the same id and hash, nothing stored twice.
	r = retracedGoPost(t, project+"/event", ingestKey, goEvent)
	var again struct{ ID, Hash string }
	json.Unmarshal(r.body, &again)
	if r.status != 201 || again != created {
		t.Errorf("the same event again: %d %s; want 201 %+v", r.status, r.body, created)
	}
	got := call(t, "GET", base+"/v1/events/"+url.PathEscape(created.ID), readKey, nil)
	if got.status != 200 {
		t.Fatalf("GET /v1/events/%s: %d %s", created.ID, got.status, got.body)
	}
	var ev struct {
		Action, Type, Status, Description string
		OccurredAt                        time.Time `json:"occurred_at"`
		Actor                             struct{ Type, ID, Name, Email string }
		Target                            struct{ Type, ID, Name string }
		Scope                             []struct{ Type, ID, Name string }
		Context                           struct{ IP string }
		Metadata                          struct {
			Retraced map[string]any `json:"retraced"`
		}
	}
	json.Unmarshal(got.body, &ev)
	x := ev.Metadata.Retraced
	if ev.Action != "document.update" || ev.Type != "update" || ev.Status != "failure" || ev.Description != "Alice updated Q3 plan" ||
		!ev.OccurredAt.Equal(goEvent.Created) || ev.Actor.ID != "usr_1" || ev.Actor.Email != "alice@example.com" ||
		ev.Target.Type != "document" || ev.Target.ID != "doc:7" || ev.Target.Name != "Q3 plan" ||
		len(ev.Scope) != 1 || ev.Scope[0].Type != "group" || ev.Scope[0].ID != "grp_1" || ev.Scope[0].Name != "Shop" ||
		ev.Context.IP != "203.0.113.7" || x["component"] != "editor" || x["version"] != "abc123" || x["external_id"] != "ext:1" ||
		x["actor_href"] != "https://app.example/u/1" || x["fields"].(map[string]any)["section"] != "a=b;c" {
		t.Errorf("stored event = %s; want the Retraced event mapped field by field", got.body)
	}

	// retraced-js: a bulk of three, as its mapping() writes them (undefined
	// members left out, an empty fields object kept).
	jsEvents := []string{
		`{"action":"user.login","group":{"id":"grp_1"},"crud":"r","created":"2026-11-21T08:00:00.000Z","actor":{"id":"usr_2","name":"Bob"},"source_ip":"2001:db8::1","fields":{},"component":"web","version":"1.2.3"}`,
		`{"action":"user.logout","group":{"id":"grp_2","name":"Other"},"crud":"r","actor":{"id":"usr_2"},"metadata":{"b;":"x%y","a":"1:2"}}`,
		`{"action":"report.run","crud":"c","is_anonymous":true,"target":{"id":"rep_1"},"description":"an anonymous run"}`,
	}
	r = retracedJSPost(t, project+"/event/bulk", ingestKey, `{"events":[`+strings.Join(jsEvents, ",")+`]}`)
	if r.status != 201 {
		t.Fatalf("retraced-js reportEvents: %d %s; want 201", r.status, r.body)
	}
	var bulk []struct{ ID, Hash string }
	if err := json.Unmarshal(r.body, &bulk); err != nil || len(bulk) != 3 {
		t.Fatalf("bulk answer %s; want three {id, hash}", r.body)
	}
	for i, src := range jsEvents {
		var m map[string]any
		json.Unmarshal([]byte(src), &m)
		if want := sha256Hex(rjsHashTarget(m, bulk[i].ID)); bulk[i].Hash != want {
			t.Errorf("bulk[%d] = %+v; retraced-js's verifyHash wants %s (target %q)", i, bulk[i], want, rjsHashTarget(m, bulk[i].ID))
		}
	}
	// One event as retraced-js's reportEvent sends it.
	one := `{"action":"user.create","crud":"c","actor":{"id":"usr_3","name":"Carol"},"group":{"id":"grp_1"},"target":{"id":"usr_4","type":"user"}}`
	r = retracedJSPost(t, project+"/event", ingestKey, one)
	var single struct{ ID, Hash string }
	json.Unmarshal(r.body, &single)
	var oneMap map[string]any
	json.Unmarshal([]byte(one), &oneMap)
	if r.status != 201 || single.Hash != sha256Hex(rjsHashTarget(oneMap, single.ID)) {
		t.Errorf("retraced-js reportEvent: %d %s; want 201 with the hash verifyHash computes", r.status, r.body)
	}
	if ids := listIDs(t, base, readKey, "limit=100"); len(ids) != 5 {
		t.Errorf("/v1/events holds %d events; want 5 (1 + 3 + 1, the resent one once)", len(ids))
	}

	// Refusals, in Retraced's shape, storing nothing.
	r = retracedJSPost(t, project+"/event", ingestKey, `{"action":"user.login","actor":{"id":"usr_1"}}`)
	if st, _, inv := retracedErrorOf(t, r); st != 400 || len(inv) != 1 || inv[0]["field"] != "crud" {
		t.Errorf("event without crud: %d %s; want 400 naming crud", r.status, r.body)
	}
	r = retracedJSPost(t, project+"/event/bulk", ingestKey, `{"events":[`+jsEvents[0]+`,{"action":"x.y","crud":"c","actor":{"id":"a"},"source_ip":"not an ip"}]}`)
	if st, msg, inv := retracedErrorOf(t, r); st != 400 || len(inv) != 1 || inv[0]["index"] != 1.0 || !strings.Contains(msg, "no events were logged") {
		t.Errorf("bulk with a bad event: %d %s; want 400 naming index 1", r.status, r.body)
	}
	r = retracedJSPost(t, project+"/event", ingestKey, `{"action":"x.y","crud":"c","actor":{"id":"a","name":"`+strings.Repeat("n", 300)+`"}}`)
	if st, _, inv := retracedErrorOf(t, r); st != 400 || len(inv) != 1 || inv[0]["field"] != "actor.name" {
		t.Errorf("event refused by ingest: %d %s; want 400 naming actor.name", r.status, r.body)
	}
	if ids := listIDs(t, base, readKey, "limit=100"); len(ids) != 5 {
		t.Errorf("after refusals /v1/events holds %d events; want still 5", len(ids))
	}
	r = retracedJSPost(t, base+"/auditlog/publisher/v1/project/globex/event", ingestKey, one)
	if st, _, _ := retracedErrorOf(t, r); st != 403 {
		t.Errorf("another tenant's project: %d %s; want 403", r.status, r.body)
	}
	r = retracedJSPost(t, project+"/event", "", one)
	if st, _, _ := retracedErrorOf(t, r); st != 401 {
		t.Errorf("no key: %d %s; want 401", r.status, r.body)
	}
	r = retracedJSPost(t, project+"/event", readKey, one)
	if st, _, _ := retracedErrorOf(t, r); st != 403 {
		t.Errorf("a read-only key sending: %d %s; want 403", r.status, r.body)
	}

	// Viewer token, as retraced-go's GetViewerToken asks for it.
	params := url.Values{}
	params.Add("group_id", "grp_1")
	params.Add("is_admin", "true")
	params.Add("actor_id", "usr_1")
	params.Add("view_log_action", "")
	req, _ := http.NewRequest("GET", project+"/viewertoken?"+params.Encode(), nil)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Token token="+admin)
	r = roundTrip(t, req)
	var vt struct{ Token string }
	if json.Unmarshal(r.body, &vt); r.status != 201 || vt.Token == "" {
		t.Fatalf("viewertoken: %d %s; want 201 {token}", r.status, r.body)
	}
	if ids := listIDs(t, base, vt.Token, "limit=100"); len(ids) != 3 {
		t.Errorf("the viewer token lists %v; want the 3 events of grp_1", ids)
	}

	// GraphQL search, as retraced-go's EventsConnection pages it: last=2,
	// then before = the last edge's cursor while hasPreviousPage.
	mask := map[string]bool{}
	for _, f := range []string{"ID", "Action", "CRUD", "Description", "IsFailure", "IsAnonymous", "SourceIP", "Country", "LocSubdiv1",
		"LocSubdiv2", "Received", "Created", "CanonicalTime", "Component", "Version", "Fields", "Raw", "ExternalID", "Metadata",
		"GroupID", "GroupName", "ActorID", "ActorName", "ActorHref", "ActorFields", "TargetID", "TargetName", "TargetHref",
		"TargetType", "TargetFields", "DisplayMarkdown", "AnyGroup", "AnyActor", "AnyTarget", "AnyDisplay"} {
		mask[f] = true
	}
	var q bytes.Buffer
	if err := template.Must(template.New("search").Parse(rgoSearchTemplate)).Execute(&q, mask); err != nil {
		t.Fatal(err)
	}
	type node struct {
		ID, Action, CRUD, Raw string
		Fields                []struct{ Key, Value string }
		Group                 *struct{ ID, Name string }
		Actor                 *struct{ ID, Name string }
		Target                *struct{ ID, Type string }
		Created               time.Time
		IsFailure             bool   `json:"is_failure"`
		ExternalID            string `json:"external_id"`
	}
	var seen []node
	cursor := ""
	for page := 0; page < 5; page++ {
		vars := map[string]any{"last": 2, "query": "crud:r,u,c"}
		if cursor != "" {
			vars["before"] = cursor
		}
		b, _ := json.Marshal(map[string]any{"query": q.String(), "variables": vars})
		req, _ := http.NewRequest("POST", project+"/graphql", bytes.NewBuffer(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Token token="+readKey)
		req.Header.Set("Accept", "application/json")
		r = roundTrip(t, req)
		var res struct {
			Data struct {
				Search struct {
					TotalCount int
					PageInfo   struct{ HasPreviousPage bool }
					Edges      []struct {
						Cursor string
						Node   node
					}
				}
			}
		}
		if err := json.Unmarshal(r.body, &res); r.status != 200 || err != nil {
			t.Fatalf("graphql page %d: %d %s", page, r.status, r.body)
		}
		if res.Data.Search.TotalCount != 5 {
			t.Errorf("totalCount = %d; want 5", res.Data.Search.TotalCount)
		}
		edges := res.Data.Search.Edges
		for _, e := range edges {
			seen = append(seen, e.Node)
		}
		if !res.Data.Search.PageInfo.HasPreviousPage || len(edges) == 0 {
			break
		}
		cursor = edges[len(edges)-1].Cursor
	}
	if len(seen) != 5 {
		t.Fatalf("graphql paging read %d events; want 5", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].Created.After(seen[i-1].Created) {
			t.Errorf("graphql events not newest first: %v after %v", seen[i].Created, seen[i-1].Created)
		}
	}
	var doc *node
	for i := range seen {
		if seen[i].ID == created.ID {
			doc = &seen[i]
		}
	}
	if doc == nil || doc.Action != "document.update" || doc.CRUD != "u" || !doc.IsFailure || doc.ExternalID != "ext:1" ||
		doc.Group == nil || doc.Group.ID != "grp_1" || doc.Actor == nil || doc.Actor.ID != "usr_1" || doc.Target == nil ||
		doc.Target.Type != "document" || len(doc.Fields) != 3 || doc.Fields[1].Key != "section" || doc.Fields[1].Value != "a=b;c" ||
		!strings.Contains(doc.Raw, `"external_id":"ext:1"`) {
		t.Errorf("graphql node of the retraced-go event = %+v; want it read back", doc)
	}
	// A search term auditkeep cannot run: 400 with GraphQL errors.
	b, _ := json.Marshal(map[string]any{"query": q.String(), "variables": map[string]any{"last": 2, "query": "location:Paris"}})
	req, _ = http.NewRequest("POST", project+"/graphql", bytes.NewBuffer(b))
	req.Header.Set("Authorization", "Token token="+readKey)
	r = roundTrip(t, req)
	if var_ := (struct{ Errors []struct{ Message string } }{}); json.Unmarshal(r.body, &var_) != nil || r.status != 400 || len(var_.Errors) == 0 {
		t.Errorf("graphql with location: %d %s; want 400 with errors", r.status, r.body)
	}
	// Searching needs the read scope.
	req, _ = http.NewRequest("POST", project+"/graphql", bytes.NewBuffer(b))
	req.Header.Set("Authorization", "Token token="+ingestKey)
	if r = roundTrip(t, req); r.status != 403 {
		t.Errorf("graphql with an ingest key: %d %s; want 403", r.status, r.body)
	}
}

// rgoSearchTemplate is retraced-go graphql.go's searchTmplSource, verbatim.
const rgoSearchTemplate = `query Search($query: String!, $last: Int, $before: String) {
	search(query: $query, last: $last, before: $before) {
		totalCount,
		pageInfo {
			hasPreviousPage
		}
		edges {
			cursor
			node {
				{{if .ID -}}		id		{{- end}}
				{{if .Action -}}	action		{{- end}}
				{{if .CRUD -}}		crud		{{- end}}
				{{if .Description -}}	description	{{- end}}
				{{if .IsFailure -}}	is_failure	{{- end}}
				{{if .IsAnonymous -}}	is_anonymous	{{- end}}
				{{if .SourceIP -}}	source_ip	{{- end}}
				{{if .Country -}}	country		{{- end}}
				{{if .LocSubdiv1 -}}	loc_subdiv1	{{- end}}
				{{if .LocSubdiv2 -}}	loc_subdiv2	{{- end}}
				{{if .Received -}}	received	{{- end}}
				{{if .Created -}}	created		{{- end}}
				{{if .CanonicalTime -}}	canonical_time	{{- end}}
				{{if .Component -}}	component	{{- end}}
				{{if .Version -}}	version		{{- end}}
				{{if .Raw -}}		raw		{{- end}}
				{{if .Fields -}}	fields {
								key
								value
							}		{{- end}}
				{{if .ExternalID -}}	external_id		{{- end}}
				{{if .Metadata -}}  metadata {
								key
								value
							}		{{- end}}
				{{if .AnyGroup -}}	group {
					{{if .GroupID -}}	id	{{- end}}
					{{if .GroupName -}}	name	{{- end}}
				}{{end}}
				{{if .AnyActor -}}	actor {
					{{if .ActorID -}}	id	{{- end}}
					{{if .ActorName -}}	name	{{- end}}
					{{if .ActorHref -}}	href	{{- end}}
					{{if .ActorFields -}}	fields {
									key
									value
								}	{{- end}}
				}{{end}}
				{{if .AnyTarget -}}	target {
					{{if .TargetID -}}	id	{{- end}}
					{{if .TargetName -}}	name	{{- end}}
					{{if .TargetHref -}}	href	{{- end}}
					{{if .TargetType -}}	type	{{- end}}
					{{if .TargetFields -}}	fields {
									key
									value
								}	{{- end}}
				}{{end}}
				{{if .AnyDisplay -}}	display{
					{{if .DisplayMarkdown }}markdown{{end}}
				}{{end}}
			}
		}
	}
}`
