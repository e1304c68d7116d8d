package sqlite

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/demo"
	"github.com/auditkeep/auditkeep/internal/eventjson"
	"github.com/klauspost/compress/s2"
)

// foreignEvents returns n events of a vocabulary of their own (a bank's:
// payments, invoices, employees, mobile clients), nothing like the
// demo's, for measuring the body codec on events its dictionary was not
// made from.
func foreignEvents(n int) []*auditkeep.Event {
	r := rand.New(rand.NewPCG(7, 9))
	nouns := []string{"invoice", "payment", "ledger_entry", "payee", "card", "mandate", "refund", "statement"}
	verbs := []string{"create", "approve", "reject", "update", "delete", "read", "export"}
	uas := []string{"okhttp/4.12.0", "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/UQ1A)", "PostmanRuntime/7.39.0", "python-requests/2.32.3", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"}
	teams := []string{"treasury", "accounts-payable", "risk", "compliance"}
	var out []*auditkeep.Event
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	for i := range n {
		noun, verb := nouns[r.IntN(len(nouns))], verbs[r.IntN(len(verbs))]
		at = at.Add(time.Duration(r.IntN(90000)) * time.Millisecond)
		typ := auditkeep.TypeInfo
		for _, t := range auditkeep.Types {
			if t == verb {
				typ = t
			}
		}
		u := r.IntN(300)
		e := &auditkeep.Event{ID: fmt.Sprintf("req-%08x-%04d", r.Uint32(), i), OccurredAt: at, ReceivedAt: at.Add(40 * time.Millisecond),
			Action: noun + "." + verb, Type: typ,
			Actor:  auditkeep.Actor{Type: auditkeep.ActorUser, ID: fmt.Sprintf("emp-%05d", u), Name: fmt.Sprintf("Employee %d", u), Email: fmt.Sprintf("e%d@bank.test", u)},
			Target: &auditkeep.Target{Type: noun, ID: fmt.Sprintf("%s-%06d", noun[:3], r.IntN(100000)), Name: fmt.Sprintf("%s %d", noun, r.IntN(1000))},
			Scope:  []auditkeep.ScopeEntry{{Type: "entity", ID: fmt.Sprintf("ent%d", r.IntN(5)), Name: "Holding"}, {Type: "branch", ID: fmt.Sprintf("br%03d", r.IntN(60))}},
			Team:   teams[r.IntN(len(teams))], Source: "mobile", Status: auditkeep.StatusSuccess,
			Context:     auditkeep.Context{IP: fmt.Sprintf("198.51.100.%d", r.IntN(250)), UserAgent: uas[r.IntN(len(uas))]},
			Description: fmt.Sprintf("%s %s by employee %d", verb, noun, u),
		}
		amount := r.IntN(1000000)
		e.Snapshot = json.RawMessage(fmt.Sprintf(`{"amount_cents":%d,"currency":"EUR","counterparty":{"iban":"DE%020d","bic":"BANKDEFF"},"approved":%v,"memo":"quarterly settlement %d"}`, amount, r.Uint64()%1e18, r.IntN(2) == 0, r.IntN(99)))
		if verb == "update" {
			e.Before = json.RawMessage(fmt.Sprintf(`{"amount_cents":%d,"currency":"EUR","approved":false}`, amount+r.IntN(500)))
			e.Changes = []auditkeep.Change{{Field: "amount_cents", Op: "changed", Old: json.RawMessage(fmt.Sprint(amount + 1)), New: json.RawMessage(fmt.Sprint(amount))}}
		}
		e.Metadata = json.RawMessage(fmt.Sprintf(`{"request_id":"%016x","channel":"app"}`, r.Uint64()))
		out = append(out, e)
	}
	return out
}

func compressedRatio(t *testing.T, events []*auditkeep.Event, d *s2.Dict) (float64, float64) {
	var js, comp int
	for _, e := range events {
		b, err := eventjson.EncodeStored(e)
		if err != nil {
			t.Fatal(err)
		}
		js += len(b)
		if d == nil {
			comp += len(s2.Encode(nil, b)) + 1
		} else {
			comp += len(d.Encode(nil, b)) + 1
		}
	}
	return float64(comp) / float64(js), float64(comp) / float64(len(events))
}

// TestBodyDictionary: the body codec's dictionary holds nothing of the
// demo's vocabulary, and it makes the bodies of events of another
// vocabulary smaller than S2 alone does. It logs the size of bodies with
// each dictionary (the figures of BENCHMARKS.md).
func TestBodyDictionary(t *testing.T) {
	for _, s := range []string{"Chrome/131", "prj_", "env_", "svc_", "platform", "production", "terraform", "example.com", "2026-"} {
		if strings.Contains(modelDictionary, s) {
			t.Errorf("modelDictionary holds %q, of the demo's events", s)
		}
	}
	g := demo.New(1, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), demo.Options{})
	var dem []*auditkeep.Event
	for range 5000 {
		e := g.Next()
		dem = append(dem, &e)
	}
	fr := foreignEvents(5000)
	for _, set := range []struct {
		name string
		ev   []*auditkeep.Event
	}{{"demo", dem}, {"foreign", fr}} {
		var sizes [3]float64
		for i, d := range []struct {
			name string
			d    *s2.Dict
		}{{"none", nil}, {"bodyDictionary", s2Dict}, {"modelDictionary", s2ModelDict}} {
			r, per := compressedRatio(t, set.ev, d.d)
			sizes[i] = per
			t.Logf("%s events, %s: %.3f of the JSON, %.0f B/event", set.name, d.name, r, per)
		}
		if sizes[2] >= sizes[0] {
			t.Errorf("%s events: %.0f B/event with modelDictionary, %.0f without a dictionary", set.name, sizes[2], sizes[0])
		}
	}
}
