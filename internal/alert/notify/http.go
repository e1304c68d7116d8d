package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/auditkeep/auditkeep/internal/stream/transport"
)

// sendWebhook posts m.Body signed with the channel's secret, as a webhook
// stream signs its batches, with m.ID as webhook-id.
func (s *Sender) sendWebhook(ctx context.Context, url, secret string, m *Message) error {
	settings, _ := json.Marshal(map[string]string{"url": url})
	w, err := transport.OpenWebhook(settings, secret, s.Options)
	if err != nil {
		return &transport.Error{Kind: transport.Permanent, Message: "webhook: " + err.Error()}
	}
	defer w.Close()
	if s.Webhook != nil {
		s.Webhook(w)
	}
	return w.Post(ctx, m.ID, "application/json", m.Body)
}

// slackClient sends to chat webhooks: no proxy, no redirects followed.
var slackClient = func() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}()

// sendSlack posts m as a Slack incoming webhook message: text (what
// notifications and older clients show) and blocks (a header, the facts as
// fields, the link to the matching events). Slack-compatible receivers
// (Mattermost, Rocket.Chat, Discord's /slack endpoint) read the same body.
func (s *Sender) sendSlack(ctx context.Context, url string, m *Message) error {
	body, err := json.Marshal(SlackMessage(m))
	if err != nil {
		return &transport.Error{Kind: transport.Permanent, Message: "slack: " + err.Error()}
	}
	timeout := s.Options.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return &transport.Error{Kind: transport.Permanent, Message: "slack: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	return transport.PostRequest(slackClient, req, "slack", timeout)
}

// SlackMessage is the JSON body of m for a Slack incoming webhook. Every
// text that comes from the tenant's events or rules is escaped (&, <, >),
// so that an actor's name cannot mention @channel or hide a link; the
// header is plain text.
func SlackMessage(m *Message) map[string]any {
	blocks := []any{
		map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": truncate(oneLine(m.Subject), 150), "emoji": false}},
	}
	var fields []any
	for _, f := range m.Fields {
		if len(fields) == 10 { // Slack's limit of fields in a section
			break
		}
		fields = append(fields, map[string]any{"type": "mrkdwn", "text": "*" + slackEscape(f.Name) + "*\n" + truncate(slackEscape(f.Value), 1900)})
	}
	if len(fields) > 0 {
		blocks = append(blocks, map[string]any{"type": "section", "fields": fields})
	}
	text := slackEscape(oneLine(m.Subject))
	if m.Link != "" {
		link := "<" + slackEscape(m.Link) + "|Matching events>"
		blocks = append(blocks, map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": link}})
		text += " " + link
	}
	return map[string]any{"text": text, "blocks": blocks}
}

// slackEscape escapes the three characters Slack's mrkdwn gives meaning to
// in control sequences (<@U1>, <!channel>, <url|text>).
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// truncate cuts s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
