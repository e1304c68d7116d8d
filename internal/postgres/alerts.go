package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var _ auditkeep.AlertStore = (*Store)(nil)

const alertRuleColumns = `tenant, id, name, description, match, condition, group_by, threshold, window_ns, suppress_ns,
	severity, channels, enabled, default_key, created_at, updated_at, version`

// pgq is the pool or a transaction.
type pgq interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// alertTx runs fn in a transaction and commits it. It is not run again
// after a broken connection: the caller sees EUNAVAILABLE.
func (s *Store) alertTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return s.retry(ctx, once, func() error {
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if err := fn(tx); err != nil {
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return &commitError{err}
		}
		return nil
	})
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func orEmptyMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func insertAlertRule(ctx context.Context, q pgq, r *auditkeep.AlertRule) (bool, error) {
	groupBy, _ := json.Marshal(orEmpty(r.GroupBy))
	tag, err := q.Exec(ctx, `INSERT INTO alert_rules (`+alertRuleColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT DO NOTHING`,
		r.Tenant, r.ID, r.Name, r.Description, r.Match, r.Condition, string(groupBy), r.Threshold,
		int64(r.Window), int64(r.SuppressFor), r.Severity, string(auditkeep.MarshalAlertChannels(r.Channels)),
		r.Enabled, r.Default, nanos(r.CreatedAt), nanos(r.UpdatedAt), r.Version)
	if isCode(err, "23503") {
		return false, auditkeep.Errorf(auditkeep.ENOTFOUND, "tenant %q not found", r.Tenant)
	}
	return tag.RowsAffected() > 0, err
}

// CreateAlertRule stores a new rule. Returns ECONFLICT when the tenant has
// a rule with the ID, ENOTFOUND for an unknown tenant, EUNAVAILABLE when
// the database cannot be reached.
func (s *Store) CreateAlertRule(ctx context.Context, r *auditkeep.AlertRule) error {
	if r.Version == 0 {
		r.Version = 1
	}
	return s.alertTx(ctx, func(tx pgx.Tx) error {
		ok, err := insertAlertRule(ctx, tx, r)
		if err != nil {
			return err
		}
		if !ok {
			return auditkeep.Errorf(auditkeep.ECONFLICT, "alert rule %q already exists", r.ID)
		}
		if r.Default != "" {
			_, err = tx.Exec(ctx, "INSERT INTO alert_defaults (tenant, key) VALUES ($1, $2) ON CONFLICT DO NOTHING", r.Tenant, r.Default)
		}
		return err
	})
}

func scanAlertRule(r pgx.Row) (*auditkeep.AlertRule, error) {
	ar := &auditkeep.AlertRule{}
	var groupBy, channels string
	var window, suppress, created, updated int64
	if err := r.Scan(&ar.Tenant, &ar.ID, &ar.Name, &ar.Description, &ar.Match, &ar.Condition, &groupBy, &ar.Threshold,
		&window, &suppress, &ar.Severity, &channels, &ar.Enabled, &ar.Default, &created, &updated, &ar.Version); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(groupBy), &ar.GroupBy); err != nil {
		return nil, err
	}
	chs, err := auditkeep.UnmarshalAlertChannels([]byte(channels))
	if err != nil {
		return nil, err
	}
	ar.Channels = chs
	ar.Window, ar.SuppressFor = auditkeep.Duration(window), auditkeep.Duration(suppress)
	ar.CreatedAt, ar.UpdatedAt = fromNanos(created), fromNanos(updated)
	return ar, nil
}

// channelStatus fills the rules' channels' status.
func channelStatus(ctx context.Context, q pgq, tenant string, rules []*auditkeep.AlertRule) error {
	if len(rules) == 0 {
		return nil
	}
	byKey := map[string]*auditkeep.AlertRule{}
	for _, r := range rules {
		byKey[r.Tenant+"\x00"+r.ID] = r
	}
	query := "SELECT tenant, rule_id, channel, state, last_error, last_error_at, last_success_at FROM alert_channel_status WHERE ($1 = '' OR tenant = $1)"
	args := []any{tenant}
	if len(rules) == 1 {
		query += " AND rule_id = $2"
		args = append(args, rules[0].ID)
	}
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var t, id, state, lastErr string
		var ch int
		var errAt, okAt int64
		if err := rows.Scan(&t, &id, &ch, &state, &lastErr, &errAt, &okAt); err != nil {
			return err
		}
		r := byKey[t+"\x00"+id]
		if r == nil || ch < 0 || ch >= len(r.Channels) {
			continue
		}
		c := &r.Channels[ch]
		c.State, c.LastError, c.LastErrorAt, c.LastSuccessAt = state, lastErr, fromNanos(errAt), fromNanos(okAt)
	}
	return rows.Err()
}

// GetAlertRule returns the tenant's rule. Returns ENOTFOUND, EUNAVAILABLE
// when the database cannot be reached.
func (s *Store) GetAlertRule(ctx context.Context, tenant, id string) (*auditkeep.AlertRule, error) {
	var r *auditkeep.AlertRule
	err := s.retry(ctx, idempotent, func() (err error) {
		r, err = scanAlertRule(s.pool.QueryRow(ctx, "SELECT "+alertRuleColumns+" FROM alert_rules WHERE tenant = $1 AND id = $2", tenant, id))
		if err != nil {
			return err
		}
		return channelStatus(ctx, s.pool, tenant, []*auditkeep.AlertRule{r})
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "alert rule %q not found", id)
	}
	return r, err
}

// ListAlertRules returns the tenant's rules (every tenant's for ""),
// oldest first. Returns EUNAVAILABLE when the database cannot be reached.
func (s *Store) ListAlertRules(ctx context.Context, tenant string) ([]*auditkeep.AlertRule, error) {
	var out []*auditkeep.AlertRule
	err := s.retry(ctx, idempotent, func() error {
		out = []*auditkeep.AlertRule{}
		rows, err := s.pool.Query(ctx, "SELECT "+alertRuleColumns+" FROM alert_rules WHERE $1 = '' OR tenant = $1 ORDER BY created_at, tenant, id", tenant)
		if err != nil {
			return err
		}
		for rows.Next() {
			r, err := scanAlertRule(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		return channelStatus(ctx, s.pool, tenant, out)
	})
	return out, err
}

// UpdateAlertRule stores the rule if its Version is still the stored one,
// and increments Version; a channel that changed loses its status.
// Returns ENOTFOUND, ECONFLICT, EUNAVAILABLE when the database cannot be
// reached.
func (s *Store) UpdateAlertRule(ctx context.Context, r *auditkeep.AlertRule) error {
	err := s.alertTx(ctx, func(tx pgx.Tx) error {
		old, err := scanAlertRule(tx.QueryRow(ctx, "SELECT "+alertRuleColumns+" FROM alert_rules WHERE tenant = $1 AND id = $2 FOR UPDATE", r.Tenant, r.ID))
		if errors.Is(err, pgx.ErrNoRows) {
			return auditkeep.Errorf(auditkeep.ENOTFOUND, "alert rule %q not found", r.ID)
		}
		if err != nil {
			return err
		}
		if old.Version != r.Version {
			return auditkeep.Errorf(auditkeep.ECONFLICT, "alert rule %q changed meanwhile; read it again", r.ID)
		}
		groupBy, _ := json.Marshal(orEmpty(r.GroupBy))
		if _, err := tx.Exec(ctx, `UPDATE alert_rules SET name = $1, description = $2, match = $3, condition = $4, group_by = $5,
			threshold = $6, window_ns = $7, suppress_ns = $8, severity = $9, channels = $10, enabled = $11, updated_at = $12, version = version + 1
			WHERE tenant = $13 AND id = $14`,
			r.Name, r.Description, r.Match, r.Condition, string(groupBy), r.Threshold, int64(r.Window), int64(r.SuppressFor),
			r.Severity, string(auditkeep.MarshalAlertChannels(r.Channels)), r.Enabled, nanos(r.UpdatedAt), r.Tenant, r.ID); err != nil {
			return err
		}
		for i, c := range old.Channels {
			if i < len(r.Channels) && auditkeep.SameChannel(c, r.Channels[i]) {
				continue
			}
			if _, err := tx.Exec(ctx, "DELETE FROM alert_channel_status WHERE tenant = $1 AND rule_id = $2 AND channel = $3", r.Tenant, r.ID, i); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		r.Version++
	}
	return err
}

// DeleteAlertRule deletes the tenant's rule and its channels' status.
// Returns ENOTFOUND, EUNAVAILABLE when the database cannot be reached.
func (s *Store) DeleteAlertRule(ctx context.Context, tenant, id string) error {
	return s.alertTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM alert_rules WHERE tenant = $1 AND id = $2", tenant, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return auditkeep.Errorf(auditkeep.ENOTFOUND, "alert rule %q not found", id)
		}
		_, err = tx.Exec(ctx, "DELETE FROM alert_channel_status WHERE tenant = $1 AND rule_id = $2", tenant, id)
		return err
	})
}

// EnsureDefaultAlertRules stores the defaults the tenant never had.
// Returns ENOTFOUND for an unknown tenant, EUNAVAILABLE when the database
// cannot be reached.
func (s *Store) EnsureDefaultAlertRules(ctx context.Context, tenant string, rules []*auditkeep.AlertRule) ([]*auditkeep.AlertRule, error) {
	var created []*auditkeep.AlertRule
	err := s.alertTx(ctx, func(tx pgx.Tx) error {
		created = []*auditkeep.AlertRule{}
		for _, r := range rules {
			if r.Default == "" || r.Tenant != tenant {
				return auditkeep.Errorf(auditkeep.EINVALID, "alert rule %q is not a default of tenant %q", r.ID, tenant)
			}
			tag, err := tx.Exec(ctx, "INSERT INTO alert_defaults (tenant, key) VALUES ($1, $2) ON CONFLICT DO NOTHING", tenant, r.Default)
			if isCode(err, "23503") {
				return auditkeep.Errorf(auditkeep.ENOTFOUND, "tenant %q not found", tenant)
			}
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				continue
			}
			if r.Version == 0 {
				r.Version = 1
			}
			if _, err := insertAlertRule(ctx, tx, r); err != nil {
				return err
			}
			created = append(created, r)
		}
		if len(rules) == 0 {
			var n int
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM tenants WHERE id = $1", tenant).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return auditkeep.Errorf(auditkeep.ENOTFOUND, "tenant %q not found", tenant)
			}
		}
		return nil
	})
	return created, err
}

// LeaseAlertEvaluator takes or renews owner's lease of the tenant's
// evaluator, by the database's clock. Returns ENOTFOUND, EUNAVAILABLE when
// the database cannot be reached.
func (s *Store) LeaseAlertEvaluator(ctx context.Context, tenant, owner string, ttl time.Duration) (bool, auditkeep.AlertEvaluatorState, error) {
	var st auditkeep.AlertEvaluatorState
	var held bool
	err := s.alertTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO alert_evaluators (tenant) VALUES ($1) ON CONFLICT DO NOTHING", tenant)
		if isCode(err, "23503") {
			return auditkeep.Errorf(auditkeep.ENOTFOUND, "tenant %q not found", tenant)
		}
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE alert_evaluators SET lease_owner = $1, lease_until = now() + $2 * interval '1 microsecond'
			WHERE tenant = $3 AND (lease_owner = $1 OR lease_until < now())`, owner, ttl.Microseconds(), tenant)
		if err != nil {
			return err
		}
		held = tag.RowsAffected() > 0
		return tx.QueryRow(ctx, "SELECT cursor, rebuild_from FROM alert_evaluators WHERE tenant = $1", tenant).Scan(&st.Cursor, &st.RebuildFrom)
	})
	return held, st, err
}

// ReleaseAlertEvaluator gives up owner's lease. Returns EUNAVAILABLE when
// the database cannot be reached.
func (s *Store) ReleaseAlertEvaluator(ctx context.Context, tenant, owner string) error {
	_, err := s.execStream(ctx, "UPDATE alert_evaluators SET lease_owner = '', lease_until = '-infinity' WHERE tenant = $1 AND lease_owner = $2", tenant, owner)
	return err
}

const alertColumns = `tenant, id, rule_id, rule_name, severity, group_key, count, first_event_at, last_event_at, event_ids,
	first_seq, last_seq, state, created_at, updated_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by`

// CommitAlertEvaluation stores an evaluation atomically. Returns
// ECONFLICT, ENOTFOUND, EUNAVAILABLE when the database cannot be reached.
func (s *Store) CommitAlertEvaluation(ctx context.Context, tenant, owner string, ev *auditkeep.AlertEvaluation) error {
	return s.alertTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE alert_evaluators SET cursor = $1, rebuild_from = $2
			WHERE tenant = $3 AND lease_owner = $4 AND lease_until >= now() AND cursor = $5 AND rebuild_from = $6`,
			ev.To.Cursor, ev.To.RebuildFrom, tenant, owner, ev.From.Cursor, ev.From.RebuildFrom)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var n int
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM tenants WHERE id = $1", tenant).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return auditkeep.Errorf(auditkeep.ENOTFOUND, "tenant %q not found", tenant)
			}
			return auditkeep.Errorf(auditkeep.ECONFLICT, "the alert evaluator of tenant %q moved or is held by another node", tenant)
		}
		for _, a := range ev.Raised {
			groupKey, _ := json.Marshal(orEmptyMap(a.GroupKey))
			ids, _ := json.Marshal(orEmpty(a.EventIDs))
			if _, err := tx.Exec(ctx, `INSERT INTO alerts (`+alertColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
				tenant, a.ID, a.RuleID, a.RuleName, a.Severity, string(groupKey), a.Count, nanos(a.FirstEventAt), nanos(a.LastEventAt),
				string(ids), a.FirstSeq, a.LastSeq, a.State, nanos(a.CreatedAt), nanos(a.UpdatedAt),
				nanos(a.AcknowledgedAt), a.AcknowledgedBy, nanos(a.ResolvedAt), a.ResolvedBy); err != nil {
				return err
			}
			var channels string
			err := tx.QueryRow(ctx, "SELECT channels FROM alert_rules WHERE tenant = $1 AND id = $2", tenant, a.RuleID).Scan(&channels)
			if errors.Is(err, pgx.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			chs, err := auditkeep.UnmarshalAlertChannels([]byte(channels))
			if err != nil {
				return err
			}
			for i, c := range chs {
				if _, err := tx.Exec(ctx, `INSERT INTO alert_notifications (tenant, id, alert_id, rule_id, channel, target, next_attempt_at, created_at)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, tenant, notificationID(a.ID, i), a.ID, a.RuleID, i,
					string(auditkeep.MarshalAlertChannels([]auditkeep.AlertChannel{c})), nanos(a.CreatedAt), nanos(a.CreatedAt)); err != nil {
					return err
				}
			}
		}
		for _, a := range ev.Extended {
			ids, _ := json.Marshal(orEmpty(a.EventIDs))
			if _, err := tx.Exec(ctx, `UPDATE alerts SET count = $1, last_event_at = $2, event_ids = $3, last_seq = $4, updated_at = $5
				WHERE tenant = $6 AND id = $7`, a.Count, nanos(a.LastEventAt), string(ids), a.LastSeq, nanos(a.UpdatedAt), tenant, a.ID); err != nil {
				return err
			}
		}
		return nil
	})
}

// notificationID is the id of an alert's notification to its rule's
// channel i.
func notificationID(alertID string, i int) string { return alertID + "." + strconv.Itoa(i) }

func scanAlert(r pgx.Row) (*auditkeep.Alert, error) {
	a := &auditkeep.Alert{}
	var groupKey, ids string
	var first, last, created, updated, acked, resolved int64
	if err := r.Scan(&a.Tenant, &a.ID, &a.RuleID, &a.RuleName, &a.Severity, &groupKey, &a.Count, &first, &last, &ids,
		&a.FirstSeq, &a.LastSeq, &a.State, &created, &updated, &acked, &a.AcknowledgedBy, &resolved, &a.ResolvedBy); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(groupKey), &a.GroupKey); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(ids), &a.EventIDs); err != nil {
		return nil, err
	}
	a.FirstEventAt, a.LastEventAt = fromNanos(first), fromNanos(last)
	a.CreatedAt, a.UpdatedAt = fromNanos(created), fromNanos(updated)
	a.AcknowledgedAt, a.ResolvedAt = fromNanos(acked), fromNanos(resolved)
	return a, nil
}

// ListAlerts returns a page of the tenant's alerts, newest first. Returns
// EINVALID for a malformed cursor, EUNAVAILABLE when the database cannot
// be reached.
func (s *Store) ListAlerts(ctx context.Context, tenant string, f auditkeep.AlertFilter) ([]*auditkeep.Alert, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = auditkeep.DefaultLimit
	}
	limit = min(limit, auditkeep.MaxLimit)
	where := []string{"tenant = $1"}
	args := []any{tenant}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if len(f.States) > 0 {
		where = append(where, "state = ANY("+arg(f.States)+")")
	}
	if len(f.Severities) > 0 {
		where = append(where, "severity = ANY("+arg(f.Severities)+")")
	}
	if f.RuleID != "" {
		where = append(where, "rule_id = "+arg(f.RuleID))
	}
	if f.LastSeqAfter > 0 {
		where = append(where, "last_seq > "+arg(f.LastSeqAfter))
	}
	if f.Cursor != "" {
		c, err := auditkeep.DecodeAlertCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		at := arg(c.At.UnixNano())
		where = append(where, "(created_at < "+at+" OR (created_at = "+at+" AND id < "+arg(c.ID)+"))")
	}
	query := fmt.Sprintf("SELECT %s FROM alerts WHERE %s ORDER BY created_at DESC, id DESC LIMIT %s",
		alertColumns, strings.Join(where, " AND "), arg(limit+1))
	var out []*auditkeep.Alert
	err := s.retry(ctx, idempotent, func() error {
		out = []*auditkeep.Alert{}
		rows, err := s.pool.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanAlert(rows)
			if err != nil {
				return err
			}
			out = append(out, a)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		next = auditkeep.AlertCursor{At: last.CreatedAt, ID: last.ID}.Encode()
	}
	return out, next, nil
}

// GetAlert returns the tenant's alert. Returns ENOTFOUND, EUNAVAILABLE
// when the database cannot be reached.
func (s *Store) GetAlert(ctx context.Context, tenant, id string) (*auditkeep.Alert, error) {
	var a *auditkeep.Alert
	err := s.retry(ctx, idempotent, func() (err error) {
		a, err = getAlert(ctx, s.pool, tenant, id)
		return err
	})
	return a, err
}

func getAlert(ctx context.Context, q pgq, tenant, id string) (*auditkeep.Alert, error) {
	a, err := scanAlert(q.QueryRow(ctx, "SELECT "+alertColumns+" FROM alerts WHERE tenant = $1 AND id = $2", tenant, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "alert %q not found", id)
	}
	return a, err
}

// SetAlertState acknowledges or resolves the tenant's alert. Returns
// ENOTFOUND, ECONFLICT, EINVALID, EUNAVAILABLE when the database cannot be
// reached.
func (s *Store) SetAlertState(ctx context.Context, tenant, id, state, by string, at time.Time) (*auditkeep.Alert, error) {
	var query string
	switch state {
	case auditkeep.AlertAcknowledged:
		query = "UPDATE alerts SET state = 'acknowledged', acknowledged_at = $1, acknowledged_by = $2, updated_at = $1 WHERE tenant = $3 AND id = $4 AND state = 'open'"
	case auditkeep.AlertResolved:
		query = "UPDATE alerts SET state = 'resolved', resolved_at = $1, resolved_by = $2, updated_at = $1 WHERE tenant = $3 AND id = $4 AND state <> 'resolved'"
	default:
		return nil, auditkeep.FieldErrorf("state", "state must be acknowledged or resolved")
	}
	var a *auditkeep.Alert
	err := s.alertTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, query, nanos(at), by, tenant, id)
		if err != nil {
			return err
		}
		if a, err = getAlert(ctx, tx, tenant, id); err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return auditkeep.Errorf(auditkeep.ECONFLICT, "alert %q is %s", id, a.State)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

const notificationColumns = `tenant, id, alert_id, rule_id, channel, target, attempts, next_attempt_at,
	created_at, delivered_at, last_error`

// DueNotifications claims due notifications for owner, by the database's
// clock for the claims. Returns EUNAVAILABLE when the database cannot be
// reached.
func (s *Store) DueNotifications(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*auditkeep.AlertNotification, error) {
	var out []*auditkeep.AlertNotification
	err := s.alertTx(ctx, func(tx pgx.Tx) error {
		out = nil
		rows, err := tx.Query(ctx, `UPDATE alert_notifications SET lease_owner = $1, lease_until = now() + $2 * interval '1 microsecond'
			WHERE (tenant, id) IN (SELECT tenant, id FROM alert_notifications
				WHERE delivered_at = 0 AND next_attempt_at > 0 AND next_attempt_at <= $3 AND (lease_owner = $1 OR lease_until < now())
				ORDER BY next_attempt_at, tenant, id LIMIT $4 FOR UPDATE SKIP LOCKED)
			RETURNING `+notificationColumns, owner, lease.Microseconds(), now.UnixNano(), max(limit, 1))
		if err != nil {
			return err
		}
		for rows.Next() {
			n := &auditkeep.AlertNotification{}
			var target string
			var next, created, delivered int64
			if err := rows.Scan(&n.Tenant, &n.ID, &n.AlertID, &n.RuleID, &n.Channel, &target, &n.Attempts, &next, &created, &delivered, &n.LastError); err != nil {
				rows.Close()
				return err
			}
			chs, err := auditkeep.UnmarshalAlertChannels([]byte(target))
			if err != nil || len(chs) != 1 {
				rows.Close()
				return fmt.Errorf("notification %s: bad target: %v", n.ID, err)
			}
			n.Target = chs[0]
			n.NextAttemptAt, n.CreatedAt, n.DeliveredAt = fromNanos(next), fromNanos(created), fromNanos(delivered)
			out = append(out, n)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, n := range out {
			if n.Alert, err = getAlert(ctx, tx, n.Tenant, n.AlertID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortNotifications(out)
	return out, nil
}

// sortNotifications orders notifications oldest due first (RETURNING
// keeps no order).
func sortNotifications(ns []*auditkeep.AlertNotification) {
	slices.SortFunc(ns, func(a, b *auditkeep.AlertNotification) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.ID, b.ID))
	})
}

// NotificationDelivered marks the notification delivered. Returns
// ECONFLICT, ENOTFOUND, EUNAVAILABLE when the database cannot be reached.
func (s *Store) NotificationDelivered(ctx context.Context, tenant, id, owner string, at time.Time) error {
	return s.finishNotification(ctx, tenant, id, owner, func(tx pgx.Tx, ruleID string, ch int) error {
		if _, err := tx.Exec(ctx, "UPDATE alert_notifications SET delivered_at = $1, lease_owner = '', lease_until = '-infinity' WHERE tenant = $2 AND id = $3",
			nanos(at), tenant, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO alert_channel_status (tenant, rule_id, channel, state, last_success_at) VALUES ($1, $2, $3, 'ok', $4)
			ON CONFLICT (tenant, rule_id, channel) DO UPDATE SET state = 'ok', last_success_at = excluded.last_success_at`,
			tenant, ruleID, ch, nanos(at))
		return err
	})
}

// NotificationFailed records a failed attempt. Returns ECONFLICT,
// ENOTFOUND, EUNAVAILABLE when the database cannot be reached.
func (s *Store) NotificationFailed(ctx context.Context, tenant, id, owner, message string, at, next time.Time) error {
	return s.finishNotification(ctx, tenant, id, owner, func(tx pgx.Tx, ruleID string, ch int) error {
		if _, err := tx.Exec(ctx, `UPDATE alert_notifications SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2,
			lease_owner = '', lease_until = '-infinity' WHERE tenant = $3 AND id = $4`, message, nanos(next), tenant, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO alert_channel_status (tenant, rule_id, channel, state, last_error, last_error_at) VALUES ($1, $2, $3, 'failing', $4, $5)
			ON CONFLICT (tenant, rule_id, channel) DO UPDATE SET state = 'failing', last_error = excluded.last_error, last_error_at = excluded.last_error_at`,
			tenant, ruleID, ch, message, nanos(at))
		return err
	})
}

// finishNotification runs fn on a notification owner holds the claim of;
// the channel's status is kept only while the rule's channel at that index
// is the one the notification went to.
func (s *Store) finishNotification(ctx context.Context, tenant, id, owner string, fn func(tx pgx.Tx, ruleID string, ch int) error) error {
	return s.alertTx(ctx, func(tx pgx.Tx) error {
		var ruleID, target, leaseOwner string
		var ch int
		err := tx.QueryRow(ctx, "SELECT rule_id, channel, target, lease_owner FROM alert_notifications WHERE tenant = $1 AND id = $2 FOR UPDATE", tenant, id).
			Scan(&ruleID, &ch, &target, &leaseOwner)
		if errors.Is(err, pgx.ErrNoRows) {
			return auditkeep.Errorf(auditkeep.ENOTFOUND, "notification %q not found", id)
		}
		if err != nil {
			return err
		}
		if leaseOwner != owner {
			return auditkeep.Errorf(auditkeep.ECONFLICT, "notification %q is delivered by another node", id)
		}
		if err := fn(tx, ruleID, ch); err != nil {
			return err
		}
		var channels string
		err = tx.QueryRow(ctx, "SELECT channels FROM alert_rules WHERE tenant = $1 AND id = $2", tenant, ruleID).Scan(&channels)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		chs, _ := auditkeep.UnmarshalAlertChannels([]byte(channels))
		sent, _ := auditkeep.UnmarshalAlertChannels([]byte(target))
		if err != nil || ch >= len(chs) || len(sent) != 1 || !auditkeep.SameChannel(chs[ch], sent[0]) {
			_, err := tx.Exec(ctx, "DELETE FROM alert_channel_status WHERE tenant = $1 AND rule_id = $2 AND channel = $3", tenant, ruleID, ch)
			return err
		}
		return nil
	})
}
