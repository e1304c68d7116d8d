package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteTable writes the report as text tables.
func (rep *Report) WriteTable(w io.Writer) error {
	m := rep.Machine
	fmt.Fprintf(w, "auditkeep bench, %s, store %s\n", m.Date.Format("2006-01-02 15:04 MST"), m.Store)
	fmt.Fprintf(w, "machine: %d cores (%s), %d MiB, %s, %s; load average %s at the start, %s at the end\n",
		m.Cores, m.CPU, m.MemoryMiB, m.GoVersion, m.OS, m.LoadBefore, m.LoadAfter)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	section := func(title string) {
		tw.Flush()
		fmt.Fprintf(w, "\n%s\n", title)
	}
	if len(rep.Ingest) > 0 {
		section("Ingest over HTTP (durable: each acknowledgement after fsync)")
		fmt.Fprintln(tw, "request\tevents\tseconds\tevents/s\tack p50 ms\tp95 ms\tp99 ms\t")
		for _, r := range rep.Ingest {
			fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.0f\t%.2f\t%.2f\t%.2f\t\n", r.Name, r.Events, r.Seconds, r.EventsPerSec, r.Ack.P50, r.Ack.P95, r.Ack.P99)
		}
	}
	if c := rep.Ceiling; c != nil {
		section(fmt.Sprintf("Ceiling: the same %d events in 1,000-event batches, fresh storage", c.Events))
		fmt.Fprintln(tw, "writer\tevents/s\tof raw\t")
		if c.HTTP > 0 {
			fmt.Fprintf(tw, "HTTP (batch 1000 × 4 clients)\t%.0f\t%.3f\t\n", c.HTTP, c.HTTPOverRaw)
		}
		fmt.Fprintf(tw, "Store.Append\t%.0f\t%.3f\t\n", c.Append, c.AppendOverRaw)
		fmt.Fprintf(tw, "raw driver, same schema\t%.0f\t1\t\n", c.Raw)
		fmt.Fprintf(tw, "raw driver, encoding counted\t%.0f\t\t\n", c.RawWithEncode)
		tw.Flush()
		fmt.Fprintf(w, "raw: %s\n", c.RawMethod)
	}
	if l := rep.Ledger; l != nil {
		section("Ledger")
		fmt.Fprintln(tw, "request\tledger on events/s\tack p99 ms\tledger off events/s\tack p99 ms\ton/off\t")
		for i := range l.On {
			fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.0f\t%.2f\t%.3f\t\n", l.On[i].Name, l.On[i].EventsPerSec, l.On[i].Ack.P99, l.Off[i].EventsPerSec, l.Off[i].Ack.P99, l.OnOverOff[i])
		}
		tw.Flush()
		if l.LagProbes > 0 {
			fmt.Fprintf(w, "integration lag (acknowledged → in a signed checkpoint), %d probes under load (%s): p50 %.0f ms, p95 %.0f ms, p99 %.0f ms\n",
				l.LagProbes, l.LagUnderLoad, l.Lag.P50, l.Lag.P95, l.Lag.P99)
		}
	}
	if l := rep.Load; l != nil {
		section("Load")
		fmt.Fprintf(w, "%d events (%.0f B of NDJSON each) in %.1f s: %.0f events/s, batches of %d from %d clients, %s\n",
			l.Events, float64(l.NDJSONBytes)/float64(max(l.Events, 1)), l.Seconds, l.EventsPerSec, l.Batch, l.Clients, l.Note)
	}
	if d := rep.Disk; d != nil {
		section("Disk")
		fmt.Fprintf(w, "%d events: %d B on disk, %.0f B/event; NDJSON %.0f B/event; %.2f× the NDJSON (%s)\n",
			d.Events, d.Bytes, d.BytesPerEvent, d.NDJSONPerEvent, d.OverNDJSON, d.What)
	}
	if len(rep.Queries) > 0 {
		section("Queries: first page (50 events, newest first), GET /v1/events, warm")
		fmt.Fprintln(tw, "kind\tquery\tresults\tp50 ms\tp95 ms\tp99 ms\truns\t")
		for _, q := range rep.Queries {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%.2f\t%.2f\t%d\t\n", q.Kind, q.Name, q.Results, q.Latency.P50, q.Latency.P95, q.Latency.P99, q.Latency.N)
		}
		tw.Flush()
		for _, q := range rep.Queries {
			fmt.Fprintf(w, "  %-22s ?%s\n", q.Name, clip(q.Query, 140))
		}
	}
	if len(rep.Export) > 0 {
		section("Export (GET /v1/export, body discarded)")
		fmt.Fprintln(tw, "format\tevents\tMB\tseconds\tevents/s\tcomplete\t")
		for _, e := range rep.Export {
			fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.0f\t%v\t\n", e.Format, e.Events, float64(e.Bytes)/1e6, e.Seconds, e.EventsPerSec, e.Complete)
		}
	}
	if t := rep.Tail; t != nil {
		section("Live tail (GET /v1/stream), single events one after another")
		fmt.Fprintln(tw, "latency\tp50 ms\tp95 ms\tp99 ms\t")
		fmt.Fprintf(tw, "acknowledgement → delivery\t%.2f\t%.2f\t%.2f\t\n", t.AckToDelivery.P50, t.AckToDelivery.P95, t.AckToDelivery.P99)
		fmt.Fprintf(tw, "sent → delivery\t%.2f\t%.2f\t%.2f\t\n", t.SendToDelivery.P50, t.SendToDelivery.P95, t.SendToDelivery.P99)
		fmt.Fprintf(tw, "sent → acknowledgement\t%.2f\t%.2f\t%.2f\t\n", t.Ack.P50, t.Ack.P95, t.Ack.P99)
		tw.Flush()
		fmt.Fprintf(w, "%d of %d probes delivered\n", t.Delivered, t.Probes)
	}
	if st := rep.Stream; st != nil {
		section("Stream to a local webhook (native NDJSON, signed)")
		fmt.Fprintf(w, "backlog: %d events delivered in %.2f s: %.0f events/s, %d batches\n", st.BacklogEvents, st.BacklogSeconds, st.DeliveryPerSec, st.Batches)
		fmt.Fprintf(w, "steady ingest at %d events/s (achieved %.0f): %d of %d events delivered, %d duplicates\n",
			st.LagRate, st.LagAchievedRate, st.LagDelivered, st.LagEvents, st.ReceiverDuplicates)
		fmt.Fprintln(tw, "lag, acknowledgement → arrival\tp50 ms\tp95 ms\tp99 ms\tmax ms\t")
		fmt.Fprintf(tw, "\t%.1f\t%.1f\t%.1f\t%.1f\t\n", st.Lag.P50, st.Lag.P95, st.Lag.P99, st.Lag.Max)
		tw.Flush()
	}
	if al := rep.Alerts; al != nil {
		section("Alerts: ingest (batches of 1,000 from 4 clients) by the rules watching the log")
		fmt.Fprintln(tw, "round\trules\tevents/s\tack p99 ms\tcaught up after s\talerts\t")
		for _, row := range al.Rows {
			fmt.Fprintf(tw, "%d\t%s\t%.0f\t%.2f\t%.2f\t%d\t\n", row.Round, row.Rules, row.EventsPerSec, row.Ack.P99, row.CatchUpSeconds, row.Alerts)
		}
		tw.Flush()
		fmt.Fprintf(w, "of the throughput without rules (median of %d rounds): defaults %.3f, 100 rules %.3f\n", al.Rounds, al.DefaultsOverNone, al.RulesOverNone)
		if al.LatencyProbes > 0 {
			fmt.Fprintf(w, "notification latency (acknowledged → signed webhook on loopback), %d probes under load (%s)\n", al.LatencyProbes, al.LatencyLoad)
			fmt.Fprintf(w, "  with the defaults: %d missing: p50 %.0f ms, p95 %.0f ms, p99 %.0f ms\n",
				al.DefaultsLatencyMissing, al.DefaultsLatency.P50, al.DefaultsLatency.P95, al.DefaultsLatency.P99)
			fmt.Fprintf(w, "  with 100 rules:    %d missing: p50 %.0f ms, p95 %.0f ms, p99 %.0f ms\n",
				al.LatencyMissing, al.Latency.P50, al.Latency.P95, al.Latency.P99)
		}
	}
	section("Phases")
	fmt.Fprintln(tw, "phase\tseconds\tload before\tload after\t")
	for _, p := range rep.Phases {
		fmt.Fprintf(tw, "%s\t%.1f\t%s\t%s\t\n", p.Phase, p.Seconds, p.LoadBefore, p.LoadAfter)
	}
	tw.Flush()
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
