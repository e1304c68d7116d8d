// Package notify tells people of alerts through a rule's channels: a
// signed webhook (Standard Webhooks, as streams sign theirs), a
// Slack-compatible incoming webhook (text and blocks), and email over SMTP
// with STARTTLS. A failed send is a *transport.Error whose Kind says
// whether to retry, as a stream's delivery does.
package notify

import (
	"context"
	"fmt"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/stream/transport"
)

// Message is one notification of an alert, as every channel renders it.
type Message struct {
	// ID names the notification and stays the same when it is sent again
	// (webhook-id, the email's Message-ID), so that a receiver drops a
	// repeat.
	ID string
	// Subject is one line: the severity, the rule and the group.
	Subject string
	// Text is the plain-text body (email, Slack's text).
	Text string
	// Fields are the alert's facts as name and value, in order (Slack's
	// fields, the email's lines).
	Fields []Field
	// Link is the console's list of the matching events; "" when the
	// server has no public URL.
	Link string
	// Body is the webhook's JSON body.
	Body []byte
}

// Field is one fact of an alert.
type Field struct{ Name, Value string }

// Sender sends messages to channels of the types it knows.
type Sender struct {
	Email   *Email                   // nil: email channels fail with a message saying SMTP is not configured
	Options transport.Options        // HTTP sends' timeout
	Webhook func(*transport.Webhook) // a test's hook on each webhook opened; nil in production
}

// Send sends m to ch, a webhook's signing secret opened as secret: nil
// when the receiver accepted it, else a *transport.Error.
func (s *Sender) Send(ctx context.Context, ch *auditkeep.AlertChannel, secret string, m *Message) error {
	switch ch.Type {
	case auditkeep.ChannelWebhook:
		return s.sendWebhook(ctx, ch.URL, secret, m)
	case auditkeep.ChannelSlack:
		return s.sendSlack(ctx, ch.URL, m)
	case auditkeep.ChannelEmail:
		if s.Email == nil {
			return &transport.Error{Kind: transport.Permanent, Message: "email: this server has no SMTP server configured (--smtp-addr)"}
		}
		return s.Email.Send(ctx, ch.To, m)
	}
	return &transport.Error{Kind: transport.Permanent, Message: fmt.Sprintf("unknown channel type %q", ch.Type)}
}
