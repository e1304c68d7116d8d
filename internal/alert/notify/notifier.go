package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/stream"
	"github.com/auditkeep/auditkeep/internal/stream/transport"
	"github.com/prometheus/client_golang/prometheus"
)

// Store is what the notifier needs of a store: the notifications' outbox
// and the rules (for a link's match).
type Store interface {
	DueNotifications(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*auditkeep.AlertNotification, error)
	NotificationDelivered(ctx context.Context, tenant, id, owner string, at time.Time) error
	NotificationFailed(ctx context.Context, tenant, id, owner, message string, at, next time.Time) error
	GetAlertRule(ctx context.Context, tenant, id string) (*auditkeep.AlertRule, error)
}

// Config configures a Notifier.
type Config struct {
	Store Store // required
	// Key is the server's stream key, which seals webhook channels'
	// secrets as it seals streams' (required).
	Key []byte
	// Owner names this node in the outbox's claims; "" picks a random name.
	Owner string
	// Email sends email channels' notifications; nil: they fail, saying
	// SMTP is not configured.
	Email *Email
	// PublicURL is the console's address as people reach it, for the link
	// to an alert's matching events; "" sends no link.
	PublicURL string

	Poll       time.Duration // how often the outbox is read without a Notify; 0: 1s
	Claim      time.Duration // how long a claimed notification is this node's; 0: 1m
	Batch      int           // most notifications claimed at once; 0: 50
	MinBackoff time.Duration // first wait after a failure; 0: 1s
	MaxBackoff time.Duration // longest wait between attempts; 0: 10m
	// GiveUp is how long after its alert was raised a notification is
	// retried; 0: 24h. Past it the notification stays undelivered, its
	// last error kept.
	GiveUp  time.Duration
	Timeout time.Duration // one send's deadline; 0: 10s

	Now      func() time.Time      // nil: time.Now
	Logger   *slog.Logger          // nil: slog.Default()
	Registry prometheus.Registerer // nil: metrics are not registered
}

// Notifier delivers the outbox of alert notifications: each due
// notification is sent to its channel; a failed one is tried again with
// jittered exponential backoff (honouring Retry-After) until GiveUp. On a
// store shared by several nodes each notification is claimed by one node
// at a time. Open starts it, Close stops it.
type Notifier struct {
	cfg     Config
	seal    *stream.Sealer
	sender  *Sender
	log     *slog.Logger
	metrics *metrics

	wake   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// SealPurpose binds channel secrets to alerts: a stream's sealed secret
// does not open as a channel's.
const SealPurpose = "auditkeep alert channel secret"

// New returns a notifier; it sends nothing until Open.
func New(cfg Config) (*Notifier, error) {
	seal, err := stream.NewSealer(cfg.Key, SealPurpose)
	if err != nil {
		return nil, err
	}
	if cfg.Owner == "" {
		b := make([]byte, 8)
		rand.Read(b)
		cfg.Owner = "node-" + hex.EncodeToString(b)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Poll, time.Second)
	def(&cfg.Claim, time.Minute)
	def(&cfg.MinBackoff, time.Second)
	def(&cfg.MaxBackoff, 10*time.Minute)
	def(&cfg.GiveUp, 24*time.Hour)
	def(&cfg.Timeout, 10*time.Second)
	if cfg.Batch <= 0 {
		cfg.Batch = 50
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	n := &Notifier{cfg: cfg, seal: seal, log: cfg.Logger, wake: make(chan struct{}, 1),
		sender:  &Sender{Email: cfg.Email, Options: transport.Options{Timeout: cfg.Timeout}},
		metrics: newMetrics(cfg.Registry)}
	if n.log == nil {
		n.log = slog.Default()
	}
	return n, nil
}

// Seal returns a webhook channel's secret sealed for the rule, as stored
// in AlertChannel.Secret.
func (n *Notifier) Seal(tenant, ruleID, secret string) ([]byte, error) {
	return n.seal.Seal(tenant, ruleID, secret)
}

// open returns the plain secret of a channel of the rule.
func (n *Notifier) open(tenant, ruleID string, sealed []byte) (string, error) {
	return n.seal.Open(tenant, ruleID, sealed)
}

// Open starts delivering.
func (n *Notifier) Open() {
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		t := time.NewTicker(n.cfg.Poll)
		defer t.Stop()
		for {
			for n.deliverDue(ctx) {
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-n.wake:
			}
		}
	}()
}

// Close stops delivering and waits; a notification being sent is
// abandoned (its claim expires and it is sent again).
func (n *Notifier) Close() error {
	if n.cancel == nil {
		return nil
	}
	n.cancel()
	n.wg.Wait()
	return nil
}

// Notify tells the notifier that notifications may be due now (an
// evaluation committed alerts).
func (n *Notifier) Notify() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// deliverDue sends one batch of due notifications; it reports whether the
// batch was full (more may be due).
func (n *Notifier) deliverDue(ctx context.Context) bool {
	due, err := n.cfg.Store.DueNotifications(ctx, n.cfg.Owner, n.cfg.Now(), n.cfg.Claim, n.cfg.Batch)
	if err != nil {
		if ctx.Err() == nil {
			n.log.Warn("alerts: cannot read the notifications due", "err", err)
		}
		return false
	}
	rules := map[[2]string]string{} // the match of each rule, for links
	for _, nt := range due {
		if ctx.Err() != nil {
			return false
		}
		n.deliver(ctx, nt, rules)
	}
	return len(due) == n.cfg.Batch
}

// deliver sends one notification and records the outcome.
func (n *Notifier) deliver(ctx context.Context, nt *auditkeep.AlertNotification, rules map[[2]string]string) {
	if nt.Alert == nil {
		n.log.Warn("alerts: a notification has no alert", "tenant", nt.Tenant, "notification", nt.ID)
		return
	}
	k := [2]string{nt.Tenant, nt.RuleID}
	match, ok := rules[k]
	if !ok {
		if r, err := n.cfg.Store.GetAlertRule(ctx, nt.Tenant, nt.RuleID); err == nil {
			match = r.Match
		}
		rules[k] = match
	}
	start := time.Now()
	err := n.Send(ctx, nt.Tenant, nt.RuleID, &nt.Target, AlertMessage(nt.ID, nt.Alert, match, n.cfg.PublicURL))
	if ctx.Err() != nil {
		return
	}
	now := n.cfg.Now()
	ch := channelKey{nt.Tenant, nt.RuleID, nt.Channel}
	if err == nil {
		n.metrics.delivered(ch, nt.Target.Type, time.Since(start), now.Sub(nt.Alert.CreatedAt))
		if err := n.cfg.Store.NotificationDelivered(ctx, nt.Tenant, nt.ID, n.cfg.Owner, now); err != nil && ctx.Err() == nil {
			n.log.Warn("alerts: cannot mark a notification delivered; it may be sent again", "tenant", nt.Tenant, "notification", nt.ID, "err", err)
		}
		return
	}
	te := &transport.Error{Kind: transport.Retry, Message: err.Error()}
	errors.As(err, &te)
	n.metrics.failed(ch, nt.Target.Type, te.Kind)
	next := now.Add(n.backoff(nt.Attempts+1, te.RetryAfter))
	if next.Sub(nt.Alert.CreatedAt) > n.cfg.GiveUp {
		next = time.Time{}
		n.log.Warn("alerts: a notification failed for too long; it is given up", "tenant", nt.Tenant, "rule", nt.RuleID,
			"alert", nt.AlertID, "channel", nt.Channel, "type", nt.Target.Type, "attempts", nt.Attempts+1, "err", te.Message)
	} else {
		n.log.Info("alerts: a notification failed; it will be tried again", "tenant", nt.Tenant, "rule", nt.RuleID,
			"alert", nt.AlertID, "channel", nt.Channel, "type", nt.Target.Type, "next", next, "err", te.Message)
	}
	if err := n.cfg.Store.NotificationFailed(ctx, nt.Tenant, nt.ID, n.cfg.Owner, te.Message, now, next); err != nil && ctx.Err() == nil {
		n.log.Warn("alerts: cannot record a failed notification", "tenant", nt.Tenant, "notification", nt.ID, "err", err)
	}
}

// Send sends m to a channel of the tenant's rule now, opening its sealed
// secret: nil when the receiver accepted it, else a *transport.Error (a
// secret that does not open is Permanent).
func (n *Notifier) Send(ctx context.Context, tenant, ruleID string, ch *auditkeep.AlertChannel, m *Message) error {
	secret, err := n.open(tenant, ruleID, ch.Secret)
	if err != nil {
		return &transport.Error{Kind: transport.Permanent, Message: "webhook: the channel's secret does not open with this server's stream key"}
	}
	return n.sender.Send(ctx, ch, secret, m)
}

// backoff is the wait before attempt+1 after attempt failed: the
// receiver's Retry-After when it sent one (up to MaxBackoff), else
// exponential from MinBackoff to MaxBackoff, each with up to a fifth added
// at random so that channels failing together do not retry together.
func (n *Notifier) backoff(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		d := min(retryAfter, n.cfg.MaxBackoff)
		return d + mrand.N(d/5+1)
	}
	d := n.cfg.MinBackoff
	for i := 1; i < attempt && d < n.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, n.cfg.MaxBackoff)
	return d + mrand.N(d/5+1)
}
