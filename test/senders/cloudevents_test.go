package senders

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

func TestCloudEventsSDK(t *testing.T) { forEachStore(t, testCloudEventsSDK) }

// testCloudEventsSDK: events sent with the CloudEvents Go SDK
// (github.com/cloudevents/sdk-go/v2) in binary mode, its default, and in
// structured mode, and a batch in the SDK's own JSON, are stored once per
// source and id and read back mapped; a refusal is a NACK the SDK reports
// with auditkeep's status.
func testCloudEventsSDK(t *testing.T, base string) {
	key := tenant(t, base, "platform", "ingest", "read")
	client, err := cloudevents.NewClientHTTP(cehttp.WithTarget(base+"/cloudevents"), cehttp.WithHeader("Authorization", "Bearer "+key))
	if err != nil {
		t.Fatal(err)
	}
	event := func(id, typ string, data any) cloudevents.Event {
		e := cloudevents.NewEvent()
		e.SetID(id)
		e.SetSource("https://billing.example.com")
		e.SetType(typ)
		e.SetSubject("inv_" + id)
		e.SetTime(time.Date(2026, 11, 30, 17, 31, 0, 0, time.UTC))
		e.SetExtension("authtype", "user")
		e.SetExtension("authid", "usr_42")
		if err := e.SetData(cloudevents.ApplicationJSON, data); err != nil {
			t.Fatal(err)
		}
		return e
	}
	ctx := context.Background()
	binary := event("1", "com.example.invoice.created", map[string]any{"amount": "129.00"})
	structured := event("2", "com.example.invoice.updated", map[string]any{"amount": "99.00", "context": map[string]any{"ip": "203.0.113.7"}})
	for range 2 { // sent twice: stored once
		if res := client.Send(ctx, binary); !cloudevents.IsACK(res) {
			t.Fatalf("binary send: %v", res)
		}
		if res := client.Send(binding.WithForceStructured(ctx), structured); !cloudevents.IsACK(res) {
			t.Fatalf("structured send: %v", res)
		}
	}
	batch, err := json.Marshal([]cloudevents.Event{event("3", "com.example.invoice.deleted", nil), event("4", "com.example.invoice.viewed", map[string]any{})})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", base+"/cloudevents", bytes.NewReader(batch))
	req.Header.Set("Content-Type", "application/cloudevents-batch+json")
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("batch: %v %v", res, err)
	}
	res.Body.Close()

	got := events(t, base, key, "source=cloudevents")
	if len(got) != 4 {
		t.Fatalf("stored %d events; want 4, once each", len(got))
	}
	types := map[string]string{}
	for _, e := range got {
		types[e["action"].(string)] = e["type"].(string)
		if a := e["actor"].(map[string]any); a["id"] != "usr_42" || a["type"] != "user" {
			t.Errorf("%s actor = %v; want usr_42 from the authcontext extension", e["action"], a)
		}
		if e["occurred_at"] != "2026-11-30T17:31:00Z" {
			t.Errorf("%s occurred_at = %v", e["action"], e["occurred_at"])
		}
	}
	want := map[string]string{"com.example.invoice.created": "create", "com.example.invoice.updated": "update",
		"com.example.invoice.deleted": "delete", "com.example.invoice.viewed": "read"}
	for action, typ := range want {
		if types[action] != typ {
			t.Errorf("%s type = %q; want %q", action, types[action], typ)
		}
	}

	// A refusal: the SDK reports a NACK carrying the status.
	bad := event("5", "com.example.invoice.created", map[string]any{"context": map[string]any{"ip": "nowhere"}})
	res2 := client.Send(ctx, bad)
	var httpRes *cehttp.Result
	if cloudevents.IsACK(res2) || !errors.As(res2, &httpRes) || httpRes.StatusCode != 400 {
		t.Errorf("a bad event: %v; want a NACK with 400", res2)
	}
	if n := len(events(t, base, key, "source=cloudevents")); n != 4 {
		t.Errorf("after a refusal %d events; want 4", n)
	}
}
