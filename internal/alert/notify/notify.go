// Package notify tells people of alerts through a rule's channels: a
// signed webhook (Standard Webhooks, as streams sign theirs), a
// Slack-compatible incoming webhook (text and blocks), and email over SMTP
// with STARTTLS. A failed send is a *transport.Error whose Kind says
// whether to retry, as a stream's delivery does.
package notify

import (
	"context"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/stream/transport"
)

// Channel types.
const (
	TypeWebhook = "webhook"
	TypeSlack   = "slack"
	TypeEmail   = "email"
)

// Types lists the channel types, in the order the API documents them.
var Types = []string{TypeWebhook, TypeSlack, TypeEmail}

// Channel is where one notification goes, its secret opened.
type Channel struct {
	Type   string
	URL    string   // webhook, slack
	To     []string // email
	Secret string   // webhook: the Standard Webhooks signing secret, "whsec_…"
}

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

// Send sends m to ch: nil when the receiver accepted it, else a
// *transport.Error.
func (s *Sender) Send(ctx context.Context, ch Channel, m *Message) error {
	switch ch.Type {
	case TypeWebhook:
		return s.sendWebhook(ctx, ch, m)
	case TypeSlack:
		return s.sendSlack(ctx, ch, m)
	case TypeEmail:
		if s.Email == nil {
			return &transport.Error{Kind: transport.Permanent, Message: "email: this server has no SMTP server configured (--smtp-addr)"}
		}
		return s.Email.Send(ctx, ch.To, m)
	}
	return &transport.Error{Kind: transport.Permanent, Message: fmt.Sprintf("unknown channel type %q", ch.Type)}
}

// Validate checks a channel as a rule's channels[i]: its type, URL or
// recipients and, for a webhook, its secret (ch.Secret, or an already
// stored one when secretSet). Returns EINVALID naming the field, such as
// "channels[0].url".
func Validate(i int, ch Channel, secretSet bool) error {
	field := func(name string) string { return fmt.Sprintf("channels[%d].%s", i, name) }
	if !slices.Contains(Types, ch.Type) {
		return auditkeep.FieldErrorf(field("type"), "%s must be one of %s", field("type"), strings.Join(Types, ", "))
	}
	if ch.Type == TypeEmail {
		if ch.URL != "" {
			return auditkeep.FieldErrorf(field("url"), "%s is not a setting of an email channel (it takes to)", field("url"))
		}
		if len(ch.To) == 0 {
			return auditkeep.FieldErrorf(field("to"), "%s is required: the addresses to send to", field("to"))
		}
		if len(ch.To) > 50 {
			return auditkeep.FieldErrorf(field("to"), "%s holds at most 50 addresses", field("to"))
		}
		for j, a := range ch.To {
			if p, err := mail.ParseAddress(a); err != nil || p.Name != "" || p.Address != a {
				return auditkeep.FieldErrorf(fmt.Sprintf("%s[%d]", field("to"), j), "%s[%d] must be an email address such as security@example.com", field("to"), j)
			}
		}
		if ch.Secret != "" {
			return auditkeep.FieldErrorf(field("secret"), "%s is not a setting of an email channel", field("secret"))
		}
		return nil
	}
	if len(ch.To) > 0 {
		return auditkeep.FieldErrorf(field("to"), "%s is a setting of email channels only", field("to"))
	}
	u, err := url.Parse(ch.URL)
	switch {
	case ch.URL == "":
		return auditkeep.FieldErrorf(field("url"), "%s is required: the receiver's URL", field("url"))
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil:
		return auditkeep.FieldErrorf(field("url"), "%s must be an http or https URL with a host and no credentials", field("url"))
	}
	if ch.Type == TypeSlack {
		if ch.Secret != "" {
			return auditkeep.FieldErrorf(field("secret"), "%s is not a setting of a slack channel (its URL is its secret)", field("secret"))
		}
		return nil
	}
	if ch.Secret == "" && secretSet {
		return nil
	}
	if _, err := transport.WebhookKey(ch.Secret); err != nil {
		return auditkeep.FieldErrorf(field("secret"), "%s", strings.Replace(auditkeep.ErrorMessage(err), "secret", field("secret"), 1))
	}
	return nil
}
