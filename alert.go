package auditkeep

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Alert severities, lowest first.
const (
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// Severities lists the severities, lowest first.
var Severities = []string{SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// Alert states. An alert is raised open; an admin acknowledges it (it is
// still active: more matches extend it) and resolves it (the next match of
// its group raises a new alert).
const (
	AlertOpen         = "open"
	AlertAcknowledged = "acknowledged"
	AlertResolved     = "resolved"
)

// AlertStates lists the states, in the order the API documents them.
var AlertStates = []string{AlertOpen, AlertAcknowledged, AlertResolved}

// Group-by keys of a rule: the parts of an event its alerts are counted by.
const (
	GroupActor  = "actor"  // the actor's id
	GroupIP     = "ip"     // the context's IP address
	GroupTarget = "target" // the target's type and id, "type:id"
	GroupScope  = "scope"  // the scope path, "project:prj_1/environment:env_7"
	GroupTeam   = "team"
)

// GroupKeys lists the keys a rule may group by.
var GroupKeys = []string{GroupActor, GroupIP, GroupTarget, GroupScope, GroupTeam}

// Channel types of a rule's notifications.
const (
	ChannelWebhook = "webhook" // a POST signed as Standard Webhooks
	ChannelSlack   = "slack"   // a Slack-compatible incoming webhook
	ChannelEmail   = "email"   // mail over SMTP
)

// ChannelTypes lists the channel types.
var ChannelTypes = []string{ChannelWebhook, ChannelSlack, ChannelEmail}

// Channel states, kept by the notifier.
const (
	ChannelOK      = "ok"
	ChannelFailing = "failing"
)

// The keys of the default rules every tenant gets.
const (
	DefaultFailedLogins        = "failed_logins"
	DefaultMassDeletions       = "mass_deletions"
	DefaultPrivilegeEscalation = "privilege_escalation"
	DefaultAPITokenCreated     = "api_token_created"
)

// DefaultRuleKeys lists the default rules' keys.
var DefaultRuleKeys = []string{DefaultFailedLogins, DefaultMassDeletions, DefaultPrivilegeEscalation, DefaultAPITokenCreated}

// Duration is a time.Duration written in JSON as Go writes durations
// ("10m", "1h30m"); reading accepts such a string or a number of seconds.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String renders d the shortest way: "10m", "1h30m", "45s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	// time.Duration renders 10m as "10m0s" and 2h as "2h0m0s".
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalJSON writes d as a string such as "10m".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "10m" (time.ParseDuration) or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q: use a number and a unit, such as \"10m\"", s)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("invalid duration: use a string such as \"10m\"")
	}
	*d = Duration(time.Duration(secs * float64(time.Second)))
	return nil
}

// AlertRule says which events of a tenant raise an alert: Threshold or
// more events matching Match (and Condition) of one group (GroupBy) within
// Window of each other by their occurred_at.
type AlertRule struct {
	ID          string `json:"id"`
	Tenant      string `json:"tenant"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Match selects events in the q language, as search takes it.
	Match string `json:"match"`
	// Condition is an optional CEL expression over the event (variable
	// `event`, the event's JSON shape) that must be true as well.
	Condition string   `json:"condition,omitempty"`
	GroupBy   []string `json:"group_by"` // any of GroupKeys; none: one group
	Threshold int      `json:"threshold"`
	Window    Duration `json:"window"`
	// SuppressFor: while an alert of a group is not resolved and a match
	// lies within SuppressFor of its last event, the match extends that
	// alert (count, last event, ids) instead of counting towards a new one.
	SuppressFor Duration       `json:"suppress_for"`
	Severity    string         `json:"severity"`
	Channels    []AlertChannel `json:"channels"`
	Enabled     bool           `json:"enabled"`
	// Default is "" or the key of the default rule this was created as
	// (DefaultRuleKeys).
	Default   string    `json:"default,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Version counts the rule's changes; an update names the version it
	// changes, and the evaluator starts the rule's windows afresh when it
	// moves.
	Version int64 `json:"version"`
}

// AlertChannel is where a rule's alerts are sent.
type AlertChannel struct {
	Type string   `json:"type"`          // ChannelTypes
	URL  string   `json:"url,omitempty"` // webhook, slack
	To   []string `json:"to,omitempty"`  // email: the recipients
	// Secret is the sealed webhook signing secret (encrypted by the
	// server's key); never shown: the API shows SecretSet.
	Secret    []byte `json:"-"`
	SecretSet bool   `json:"secret_set,omitempty"`

	// The channel's status, kept by the notifier (read-only to the API).
	State         string    `json:"state,omitempty"` // ChannelOK, ChannelFailing; "" until the first delivery
	LastError     string    `json:"last_error,omitempty"`
	LastErrorAt   time.Time `json:"last_error_at,omitzero"`
	LastSuccessAt time.Time `json:"last_success_at,omitzero"`
}

// Alert is a record of a rule crossing its threshold for one group.
type Alert struct {
	ID       string `json:"id"`
	Tenant   string `json:"tenant"`
	RuleID   string `json:"rule_id"`
	RuleName string `json:"rule_name"`
	Severity string `json:"severity"`
	// GroupKey is the group's value of each of the rule's GroupBy keys,
	// such as {"actor": "u_42"}; empty for a rule without GroupBy.
	GroupKey     map[string]string `json:"group_key"`
	Count        int               `json:"count"`          // matching events, extensions included
	FirstEventAt time.Time         `json:"first_event_at"` // occurred_at of the first matching event
	LastEventAt  time.Time         `json:"last_event_at"`  // occurred_at of the last
	// EventIDs are the matching events' ids, the first MaxAlertEventIDs.
	EventIDs       []string  `json:"event_ids"`
	FirstSeq       int64     `json:"first_seq"` // the lowest seq of a matching event
	LastSeq        int64     `json:"last_seq"`  // the highest
	State          string    `json:"state"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	AcknowledgedAt time.Time `json:"acknowledged_at,omitzero"`
	AcknowledgedBy string    `json:"acknowledged_by,omitempty"`
	ResolvedAt     time.Time `json:"resolved_at,omitzero"`
	ResolvedBy     string    `json:"resolved_by,omitempty"`
}

// MaxAlertEventIDs is how many matching events' ids an alert keeps.
const MaxAlertEventIDs = 100

// AlertFilter selects a tenant's alerts. Alerts are listed newest first
// (by CreatedAt, then ID).
type AlertFilter struct {
	States     []string // any of; none: every state
	RuleID     string   // "": every rule's
	Severities []string // any of; none: every severity
	// LastSeqAfter keeps alerts whose LastSeq is above it (0: all).
	LastSeqAfter int64
	Limit        int    // 1..MaxLimit; 0 means DefaultLimit
	Cursor       string // from the previous page; "" for the first
}

// AlertEvaluatorState is how far a tenant's evaluator has got.
type AlertEvaluatorState struct {
	// Cursor: the tenant's log has been evaluated up to this seq.
	Cursor int64
	// RebuildFrom: the windows held at Cursor hold only events above this
	// seq; on start the evaluator re-reads (RebuildFrom, Cursor] to rebuild
	// them without raising.
	RebuildFrom int64
}

// AlertEvaluation is what evaluating the tenant's log from one cursor to
// the next produced.
type AlertEvaluation struct {
	From AlertEvaluatorState // the state evaluation started from
	To   AlertEvaluatorState // the state it reached
	// Raised are new alerts (ID set, state open). Each gets one
	// notification per channel its rule has at commit.
	Raised []*Alert
	// Extended are stored alerts that more matches extended: their Count,
	// LastEventAt, EventIDs, LastSeq and UpdatedAt are stored.
	Extended []*Alert
}

// AlertNotification is one alert to be sent to one channel: the outbox
// row a notifier delivers, retrying, and marks.
type AlertNotification struct {
	ID      string `json:"id"`
	Tenant  string `json:"tenant"`
	AlertID string `json:"alert_id"`
	RuleID  string `json:"rule_id"`
	// Channel is the index of the channel in the rule's Channels when the
	// alert was raised; Target is that channel as it was then (Secret
	// included, sealed).
	Channel       int          `json:"channel"`
	Target        AlertChannel `json:"target"`
	Attempts      int          `json:"attempts"`
	NextAttemptAt time.Time    `json:"next_attempt_at"`
	CreatedAt     time.Time    `json:"created_at"`
	DeliveredAt   time.Time    `json:"delivered_at,omitzero"`
	LastError     string       `json:"last_error,omitempty"`
	// Alert is the alert to send, as stored when the notification was
	// claimed (DueNotifications fills it).
	Alert *Alert `json:"alert,omitempty"`
}

// AlertStore keeps alert rules, alerts, the evaluators' cursors and the
// notifications' outbox. Evaluation calls name the owner, the node that
// holds the tenant evaluator's lease: exactly one node evaluates a tenant's
// log at a time.
type AlertStore interface {
	// CreateAlertRule stores a new rule (ID, Tenant set, Version 1).
	// Returns ECONFLICT when the ID is taken, ENOTFOUND for an unknown
	// tenant.
	CreateAlertRule(ctx context.Context, r *AlertRule) error
	// GetAlertRule returns the tenant's rule with its channels' status.
	// Returns ENOTFOUND.
	GetAlertRule(ctx context.Context, tenant, id string) (*AlertRule, error)
	// ListAlertRules returns the tenant's rules with their channels'
	// status, oldest first (by CreatedAt, then ID); tenant "" lists every
	// tenant's.
	ListAlertRules(ctx context.Context, tenant string) ([]*AlertRule, error)
	// UpdateAlertRule stores r's name, description, match, condition,
	// group_by, threshold, window, suppress_for, severity, channels,
	// enabled and UpdatedAt and increments its Version, provided the stored
	// Version is still r.Version (r gets the new one). A channel that
	// changed (type, URL, recipients, secret) starts with no status.
	// Returns ENOTFOUND, ECONFLICT when the rule changed meanwhile.
	UpdateAlertRule(ctx context.Context, r *AlertRule) error
	// DeleteAlertRule deletes the tenant's rule; its alerts stay. Returns
	// ENOTFOUND.
	DeleteAlertRule(ctx context.Context, tenant, id string) error
	// EnsureDefaultAlertRules stores each of rules (defaults: Default set,
	// Tenant set) whose Default key the tenant has never had, and
	// remembers the key: a default deleted later is not created again.
	// Idempotent and safe from several nodes at once. It returns the rules
	// it created. Returns ENOTFOUND for an unknown tenant.
	EnsureDefaultAlertRules(ctx context.Context, tenant string, rules []*AlertRule) ([]*AlertRule, error)

	// LeaseAlertEvaluator takes or renews the lease of the tenant's
	// evaluator for owner, for ttl by the store's clock, unless another
	// owner holds an unexpired one; it reports whether owner holds it now,
	// and the evaluator's state (zero for a tenant never evaluated).
	// Returns ENOTFOUND for an unknown tenant.
	LeaseAlertEvaluator(ctx context.Context, tenant, owner string, ttl time.Duration) (bool, AlertEvaluatorState, error)
	// ReleaseAlertEvaluator gives up owner's lease, if owner holds it.
	ReleaseAlertEvaluator(ctx context.Context, tenant, owner string) error
	// CommitAlertEvaluation stores ev atomically: the evaluator's state
	// moves from ev.From to ev.To, ev.Raised are stored with their
	// notifications (one per channel of the rule; none for a rule since
	// deleted), and ev.Extended are updated. Returns ECONFLICT, changing
	// nothing, when owner does not hold the lease or the stored state is
	// not ev.From; ENOTFOUND for an unknown tenant.
	CommitAlertEvaluation(ctx context.Context, tenant, owner string, ev *AlertEvaluation) error

	// ListAlerts returns one page of the tenant's alerts matching f and
	// the cursor of the next page ("" when this is the last). Returns
	// EINVALID for a malformed cursor.
	ListAlerts(ctx context.Context, tenant string, f AlertFilter) ([]*Alert, string, error)
	// GetAlert returns the tenant's alert. Returns ENOTFOUND.
	GetAlert(ctx context.Context, tenant, id string) (*Alert, error)
	// SetAlertState acknowledges (an open alert) or resolves (an open or
	// acknowledged one) the tenant's alert, by who at at, and returns it.
	// Returns ENOTFOUND, ECONFLICT when the alert's state does not allow
	// it (acknowledging one not open, resolving one resolved), EINVALID
	// for a state other than AlertAcknowledged or AlertResolved.
	SetAlertState(ctx context.Context, tenant, id, state, by string, at time.Time) (*Alert, error)

	// DueNotifications claims for owner, for lease, up to limit
	// undelivered notifications of any tenant whose NextAttemptAt is not
	// after now and that no other owner holds an unexpired claim of,
	// oldest first, with their Alert filled.
	DueNotifications(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*AlertNotification, error)
	// NotificationDelivered marks the notification delivered at at and its
	// rule's channel (same index, unchanged since) ok with last_success_at.
	// Returns ECONFLICT when owner's claim was taken over; ENOTFOUND.
	NotificationDelivered(ctx context.Context, tenant, id, owner string, at time.Time) error
	// NotificationFailed records a failed attempt at at: attempts, last
	// error, the rule's channel failing with last_error, and the next
	// attempt at next (zero: give up; the notification is never due
	// again). Returns ECONFLICT when owner's claim was taken over;
	// ENOTFOUND.
	NotificationFailed(ctx context.Context, tenant, id, owner, message string, at, next time.Time) error
}

// Limits of a rule.
const (
	MaxAlertRuleName      = 200
	MaxAlertRuleText      = 4000 // description, match, condition
	MaxAlertThreshold     = 100000
	MaxAlertWindow        = 7 * 24 * time.Hour
	MaxAlertSuppressFor   = 7 * 24 * time.Hour
	MaxAlertChannels      = 10
	MaxAlertEmailTo       = 20
	MinAlertWindow        = time.Second
	maxAlertChannelURLLen = 2000
)

// Validate checks the rule's shape: its name, severity, group_by,
// threshold, window, suppress_for and channels. It does not parse Match
// or compile Condition (the alert package does, with positions). Errors
// are EINVALID naming the field ("channels[1].url").
func (r *AlertRule) Validate() error {
	switch {
	case strings.TrimSpace(r.Name) == "":
		return FieldErrorf("name", "name is required")
	case utf8.RuneCountInString(r.Name) > MaxAlertRuleName:
		return FieldErrorf("name", "name is longer than %d characters", MaxAlertRuleName)
	case !utf8.ValidString(r.Name) || hasControl(r.Name):
		return FieldErrorf("name", "name must be printable text")
	case len(r.Description) > MaxAlertRuleText || !utf8.ValidString(r.Description):
		return FieldErrorf("description", "description must be text of at most %d bytes", MaxAlertRuleText)
	case strings.TrimSpace(r.Match) == "":
		return FieldErrorf("match", "match is required: a query such as \"action:user.login status:failure\"")
	case len(r.Match) > MaxAlertRuleText:
		return FieldErrorf("match", "match is longer than %d bytes", MaxAlertRuleText)
	case len(r.Condition) > MaxAlertRuleText:
		return FieldErrorf("condition", "condition is longer than %d bytes", MaxAlertRuleText)
	case !slices.Contains(Severities, r.Severity):
		return FieldErrorf("severity", "severity must be one of %s", strings.Join(Severities, ", "))
	case r.Threshold < 1 || r.Threshold > MaxAlertThreshold:
		return FieldErrorf("threshold", "threshold must be between 1 and %d", MaxAlertThreshold)
	case r.Window < 0 || r.Window.D() > MaxAlertWindow:
		return FieldErrorf("window", "window must be between %s and %s", Duration(MinAlertWindow), Duration(MaxAlertWindow))
	case r.Window.D() < MinAlertWindow && r.Threshold > 1:
		return FieldErrorf("window", "window must be at least %s when threshold is above 1", Duration(MinAlertWindow))
	case r.SuppressFor < 0 || r.SuppressFor.D() > MaxAlertSuppressFor:
		return FieldErrorf("suppress_for", "suppress_for must be between 0s and %s", Duration(MaxAlertSuppressFor))
	case r.Default != "" && !slices.Contains(DefaultRuleKeys, r.Default):
		return FieldErrorf("default", "default must be one of %s", strings.Join(DefaultRuleKeys, ", "))
	case len(r.Channels) > MaxAlertChannels:
		return FieldErrorf("channels", "a rule has at most %d channels", MaxAlertChannels)
	}
	seen := map[string]bool{}
	for i, g := range r.GroupBy {
		field := fmt.Sprintf("group_by[%d]", i)
		if !slices.Contains(GroupKeys, g) {
			return FieldErrorf(field, "group_by takes %s, not %q", strings.Join(GroupKeys, ", "), g)
		}
		if seen[g] {
			return FieldErrorf(field, "group_by names %q twice", g)
		}
		seen[g] = true
	}
	for i := range r.Channels {
		if err := r.Channels[i].validate(fmt.Sprintf("channels[%d]", i)); err != nil {
			return err
		}
	}
	return nil
}

func (c *AlertChannel) validate(field string) error {
	switch c.Type {
	case ChannelWebhook, ChannelSlack:
		if len(c.To) > 0 {
			return FieldErrorf(field+".to", "a %s channel takes a url, not to", c.Type)
		}
		u, err := url.Parse(c.URL)
		switch {
		case c.URL == "":
			return FieldErrorf(field+".url", "url is required for a %s channel", c.Type)
		case len(c.URL) > maxAlertChannelURLLen:
			return FieldErrorf(field+".url", "url is longer than %d bytes", maxAlertChannelURLLen)
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			return FieldErrorf(field+".url", "url must be an http or https URL")
		case u.User != nil:
			return FieldErrorf(field+".url", "url must not hold credentials")
		}
	case ChannelEmail:
		if c.URL != "" {
			return FieldErrorf(field+".url", "an email channel takes to, not a url")
		}
		if len(c.To) == 0 {
			return FieldErrorf(field+".to", "to is required for an email channel: one or more addresses")
		}
		if len(c.To) > MaxAlertEmailTo {
			return FieldErrorf(field+".to", "an email channel has at most %d recipients", MaxAlertEmailTo)
		}
		for j, a := range c.To {
			addr, err := mail.ParseAddress(a)
			if err != nil || addr.Name != "" || addr.Address != a {
				return FieldErrorf(fmt.Sprintf("%s.to[%d]", field, j), "%q is not an email address such as secops@example.com", a)
			}
		}
	default:
		return FieldErrorf(field+".type", "type must be one of %s", strings.Join(ChannelTypes, ", "))
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// AlertCursor is where a page of alerts ended: the last alert's CreatedAt
// and ID (alerts are listed newest first).
type AlertCursor struct {
	At time.Time
	ID string
}

// Encode returns the cursor's opaque string form.
func (c AlertCursor) Encode() string {
	b := binary.AppendVarint([]byte{1}, c.At.UnixNano())
	return base64.RawURLEncoding.EncodeToString(append(b, c.ID...))
}

// DecodeAlertCursor parses a cursor made by Encode. It returns EINVALID
// naming "cursor" for anything else.
func DecodeAlertCursor(s string) (AlertCursor, error) {
	bad := FieldErrorf("cursor", "cursor is not valid; use next_cursor from a previous page")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 2 || b[0] != 1 {
		return AlertCursor{}, bad
	}
	at, n := binary.Varint(b[1:])
	if n <= 0 || !utf8.Valid(b[1+n:]) {
		return AlertCursor{}, bad
	}
	return AlertCursor{At: time.Unix(0, at).UTC(), ID: string(b[1+n:])}, nil
}

// storedAlertChannel is a channel as stores keep it: its configuration
// with the sealed secret, without the status.
type storedAlertChannel struct {
	Type   string   `json:"type"`
	URL    string   `json:"url,omitempty"`
	To     []string `json:"to,omitempty"`
	Secret []byte   `json:"secret,omitempty"`
}

// MarshalAlertChannels is the stored form of channels: their
// configuration, sealed secrets included, without their status.
func MarshalAlertChannels(chs []AlertChannel) []byte {
	out := make([]storedAlertChannel, len(chs))
	for i, c := range chs {
		out[i] = storedAlertChannel{Type: c.Type, URL: c.URL, To: c.To, Secret: c.Secret}
	}
	b, _ := json.Marshal(out)
	return b
}

// UnmarshalAlertChannels reads what MarshalAlertChannels wrote.
func UnmarshalAlertChannels(b []byte) ([]AlertChannel, error) {
	var in []storedAlertChannel
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, err
	}
	out := make([]AlertChannel, len(in))
	for i, c := range in {
		out[i] = AlertChannel{Type: c.Type, URL: c.URL, To: c.To, Secret: c.Secret, SecretSet: len(c.Secret) > 0}
	}
	return out, nil
}

// SameChannel reports whether a and b send to the same place the same
// way (type, URL, recipients, secret): a channel's status carries over
// an update only when it is the same.
func SameChannel(a, b AlertChannel) bool {
	return a.Type == b.Type && a.URL == b.URL && slices.Equal(a.To, b.To) && bytes.Equal(a.Secret, b.Secret)
}
