package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
)

var _ auditkeep.AlertStore = (*Store)(nil)

const alertRuleColumns = `tenant, id, name, description, match, condition, group_by, threshold, window_ns, suppress_ns,
	severity, channels, enabled, default_key, created_at, updated_at, version`

// execer is a transaction or the writer.
type execer interface {
	querier
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}

func insertAlertRule(ctx context.Context, q execer, r *auditkeep.AlertRule) (bool, error) {
	groupBy, _ := json.Marshal(orEmpty(r.GroupBy))
	res, err := q.ExecContext(ctx, `INSERT INTO alert_rules (`+alertRuleColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		r.Tenant, r.ID, r.Name, r.Description, r.Match, r.Condition, string(groupBy), r.Threshold,
		int64(r.Window), int64(r.SuppressFor), r.Severity, string(auditkeep.MarshalAlertChannels(r.Channels)),
		r.Enabled, r.Default, nanos(r.CreatedAt), nanos(r.UpdatedAt), r.Version)
	if err != nil {
		return false, dbError(err)
	}
	n, err := res.RowsAffected()
	return n > 0, dbError(err)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// CreateAlertRule stores a new rule. Returns ECONFLICT when the tenant has
// a rule with the ID, ENOTFOUND for an unknown tenant, EUNAVAILABLE when
// storage fails.
func (s *Store) CreateAlertRule(ctx context.Context, r *auditkeep.AlertRule) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return dbError(err)
	}
	defer tx.Rollback()
	if err := requireTenant(ctx, tx, r.Tenant); err != nil {
		return err
	}
	if r.Version == 0 {
		r.Version = 1
	}
	ok, err := insertAlertRule(ctx, tx, r)
	if err != nil {
		return err
	}
	if !ok {
		return auditkeep.Errorf(auditkeep.ECONFLICT, "alert rule %q already exists", r.ID)
	}
	if r.Default != "" {
		if _, err := tx.ExecContext(ctx, "INSERT INTO alert_defaults (tenant, key) VALUES (?, ?) ON CONFLICT DO NOTHING", r.Tenant, r.Default); err != nil {
			return dbError(err)
		}
	}
	return dbError(tx.Commit())
}

func scanAlertRule(r rowScanner) (*auditkeep.AlertRule, error) {
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
func channelStatus(ctx context.Context, q querier, tenant string, rules []*auditkeep.AlertRule) error {
	if len(rules) == 0 {
		return nil
	}
	byKey := map[string]*auditkeep.AlertRule{}
	for _, r := range rules {
		byKey[r.Tenant+"\x00"+r.ID] = r
	}
	query := "SELECT tenant, rule_id, channel, state, last_error, last_error_at, last_success_at FROM alert_channel_status WHERE ? = '' OR tenant = ?"
	args := []any{tenant, tenant}
	if len(rules) == 1 {
		query += " AND rule_id = ?"
		args = append(args, rules[0].ID)
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return dbError(err)
	}
	defer rows.Close()
	for rows.Next() {
		var t, id, state, lastErr string
		var ch int
		var errAt, okAt int64
		if err := rows.Scan(&t, &id, &ch, &state, &lastErr, &errAt, &okAt); err != nil {
			return dbError(err)
		}
		r := byKey[t+"\x00"+id]
		if r == nil || ch < 0 || ch >= len(r.Channels) {
			continue
		}
		c := &r.Channels[ch]
		c.State, c.LastError, c.LastErrorAt, c.LastSuccessAt = state, lastErr, fromNanos(errAt), fromNanos(okAt)
	}
	return dbError(rows.Err())
}

// GetAlertRule returns the tenant's rule. Returns ENOTFOUND, EUNAVAILABLE
// when storage fails.
func (s *Store) GetAlertRule(ctx context.Context, tenant, id string) (*auditkeep.AlertRule, error) {
	r, err := scanAlertRule(s.r.QueryRowContext(ctx, "SELECT "+alertRuleColumns+" FROM alert_rules WHERE tenant = ? AND id = ?", tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "alert rule %q not found", id)
	}
	if err != nil {
		return nil, dbError(err)
	}
	return r, channelStatus(ctx, s.r, tenant, []*auditkeep.AlertRule{r})
}

// ListAlertRules returns the tenant's rules (every tenant's for ""),
// oldest first. Returns EUNAVAILABLE when storage fails.
func (s *Store) ListAlertRules(ctx context.Context, tenant string) ([]*auditkeep.AlertRule, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+alertRuleColumns+" FROM alert_rules WHERE ? = '' OR tenant = ? ORDER BY created_at, tenant, id", tenant, tenant)
	if err != nil {
		return nil, dbError(err)
	}
	out := []*auditkeep.AlertRule{}
	for rows.Next() {
		r, err := scanAlertRule(rows)
		if err != nil {
			rows.Close()
			return nil, dbError(err)
		}
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return out, channelStatus(ctx, s.r, tenant, out)
}

// UpdateAlertRule stores the rule if its Version is still the stored one,
// and increments Version; a channel that changed loses its status.
// Returns ENOTFOUND, ECONFLICT, EUNAVAILABLE when storage fails.
func (s *Store) UpdateAlertRule(ctx context.Context, r *auditkeep.AlertRule) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return dbError(err)
	}
	defer tx.Rollback()
	old, err := scanAlertRule(tx.QueryRowContext(ctx, "SELECT "+alertRuleColumns+" FROM alert_rules WHERE tenant = ? AND id = ?", r.Tenant, r.ID))
	if errors.Is(err, sql.ErrNoRows) {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "alert rule %q not found", r.ID)
	}
	if err != nil {
		return dbError(err)
	}
	if old.Version != r.Version {
		return auditkeep.Errorf(auditkeep.ECONFLICT, "alert rule %q changed meanwhile; read it again", r.ID)
	}
	groupBy, _ := json.Marshal(orEmpty(r.GroupBy))
	if _, err := tx.ExecContext(ctx, `UPDATE alert_rules SET name = ?, description = ?, match = ?, condition = ?, group_by = ?,
		threshold = ?, window_ns = ?, suppress_ns = ?, severity = ?, channels = ?, enabled = ?, updated_at = ?, version = version + 1
		WHERE tenant = ? AND id = ?`,
		r.Name, r.Description, r.Match, r.Condition, string(groupBy), r.Threshold, int64(r.Window), int64(r.SuppressFor),
		r.Severity, string(auditkeep.MarshalAlertChannels(r.Channels)), r.Enabled, nanos(r.UpdatedAt), r.Tenant, r.ID); err != nil {
		return dbError(err)
	}
	for i, c := range old.Channels {
		if i < len(r.Channels) && auditkeep.SameChannel(c, r.Channels[i]) {
			continue
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM alert_channel_status WHERE tenant = ? AND rule_id = ? AND channel = ?", r.Tenant, r.ID, i); err != nil {
			return dbError(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return dbError(err)
	}
	r.Version++
	return nil
}

// DeleteAlertRule deletes the tenant's rule and its channels' status.
// Returns ENOTFOUND, EUNAVAILABLE when storage fails.
func (s *Store) DeleteAlertRule(ctx context.Context, tenant, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return dbError(err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, "DELETE FROM alert_rules WHERE tenant = ? AND id = ?", tenant, id)
	if err != nil {
		return dbError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "alert rule %q not found", id)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM alert_channel_status WHERE tenant = ? AND rule_id = ?", tenant, id); err != nil {
		return dbError(err)
	}
	return dbError(tx.Commit())
}

// EnsureDefaultAlertRules stores the defaults the tenant never had.
// Returns ENOTFOUND for an unknown tenant, EUNAVAILABLE when storage
// fails.
func (s *Store) EnsureDefaultAlertRules(ctx context.Context, tenant string, rules []*auditkeep.AlertRule) ([]*auditkeep.AlertRule, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, dbError(err)
	}
	defer tx.Rollback()
	if err := requireTenant(ctx, tx, tenant); err != nil {
		return nil, err
	}
	created := []*auditkeep.AlertRule{}
	for _, r := range rules {
		if r.Default == "" || r.Tenant != tenant {
			return nil, auditkeep.Errorf(auditkeep.EINVALID, "alert rule %q is not a default of tenant %q", r.ID, tenant)
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO alert_defaults (tenant, key) VALUES (?, ?) ON CONFLICT DO NOTHING", tenant, r.Default)
		if err != nil {
			return nil, dbError(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue
		}
		if r.Version == 0 {
			r.Version = 1
		}
		if _, err := insertAlertRule(ctx, tx, r); err != nil {
			return nil, err
		}
		created = append(created, r)
	}
	return created, dbError(tx.Commit())
}

// LeaseAlertEvaluator takes or renews owner's lease of the tenant's
// evaluator. Returns ENOTFOUND, EUNAVAILABLE when storage fails.
func (s *Store) LeaseAlertEvaluator(ctx context.Context, tenant, owner string, ttl time.Duration) (bool, auditkeep.AlertEvaluatorState, error) {
	var st auditkeep.AlertEvaluatorState
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, st, dbError(err)
	}
	defer tx.Rollback()
	if err := requireTenant(ctx, tx, tenant); err != nil {
		return false, st, err
	}
	now := time.Now()
	if _, err := tx.ExecContext(ctx, "INSERT INTO alert_evaluators (tenant) VALUES (?) ON CONFLICT DO NOTHING", tenant); err != nil {
		return false, st, dbError(err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE alert_evaluators SET lease_owner = ?, lease_until = ?
		WHERE tenant = ? AND (lease_owner = ? OR lease_until < ?)`, owner, now.Add(ttl).UnixNano(), tenant, owner, now.UnixNano())
	if err != nil {
		return false, st, dbError(err)
	}
	n, _ := res.RowsAffected()
	if err := tx.QueryRowContext(ctx, "SELECT cursor, rebuild_from FROM alert_evaluators WHERE tenant = ?", tenant).Scan(&st.Cursor, &st.RebuildFrom); err != nil {
		return false, st, dbError(err)
	}
	return n > 0, st, dbError(tx.Commit())
}

// ReleaseAlertEvaluator gives up owner's lease. Returns EUNAVAILABLE when
// storage fails.
func (s *Store) ReleaseAlertEvaluator(ctx context.Context, tenant, owner string) error {
	_, err := s.exec(ctx, "UPDATE alert_evaluators SET lease_owner = '', lease_until = 0 WHERE tenant = ? AND lease_owner = ?", tenant, owner)
	return err
}

const alertColumns = `tenant, id, rule_id, rule_name, severity, group_key, count, first_event_at, last_event_at, event_ids,
	first_seq, last_seq, state, created_at, updated_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by`

// CommitAlertEvaluation stores an evaluation atomically. Returns
// ECONFLICT, ENOTFOUND, EUNAVAILABLE when storage fails.
func (s *Store) CommitAlertEvaluation(ctx context.Context, tenant, owner string, ev *auditkeep.AlertEvaluation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return dbError(err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE alert_evaluators SET cursor = ?, rebuild_from = ?
		WHERE tenant = ? AND lease_owner = ? AND lease_until >= ? AND cursor = ? AND rebuild_from = ?`,
		ev.To.Cursor, ev.To.RebuildFrom, tenant, owner, time.Now().UnixNano(), ev.From.Cursor, ev.From.RebuildFrom)
	if err != nil {
		return dbError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if err := requireTenant(ctx, tx, tenant); err != nil {
			return err
		}
		return auditkeep.Errorf(auditkeep.ECONFLICT, "the alert evaluator of tenant %q moved or is held by another node", tenant)
	}
	for _, a := range ev.Raised {
		groupKey, _ := json.Marshal(orEmptyMap(a.GroupKey))
		ids, _ := json.Marshal(orEmpty(a.EventIDs))
		if _, err := tx.ExecContext(ctx, `INSERT INTO alerts (`+alertColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			tenant, a.ID, a.RuleID, a.RuleName, a.Severity, string(groupKey), a.Count, nanos(a.FirstEventAt), nanos(a.LastEventAt),
			string(ids), a.FirstSeq, a.LastSeq, a.State, nanos(a.CreatedAt), nanos(a.UpdatedAt),
			nanos(a.AcknowledgedAt), a.AcknowledgedBy, nanos(a.ResolvedAt), a.ResolvedBy); err != nil {
			return dbError(err)
		}
		var channels string
		err := tx.QueryRowContext(ctx, "SELECT channels FROM alert_rules WHERE tenant = ? AND id = ?", tenant, a.RuleID).Scan(&channels)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return dbError(err)
		}
		chs, err := auditkeep.UnmarshalAlertChannels([]byte(channels))
		if err != nil {
			return dbError(err)
		}
		for i, c := range chs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO alert_notifications (tenant, id, alert_id, rule_id, channel, target, next_attempt_at, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, tenant, notificationID(a.ID, i), a.ID, a.RuleID, i,
				string(auditkeep.MarshalAlertChannels([]auditkeep.AlertChannel{c})), nanos(a.CreatedAt), nanos(a.CreatedAt)); err != nil {
				return dbError(err)
			}
		}
	}
	for _, a := range ev.Extended {
		ids, _ := json.Marshal(orEmpty(a.EventIDs))
		if _, err := tx.ExecContext(ctx, `UPDATE alerts SET count = ?, last_event_at = ?, event_ids = ?, last_seq = ?, updated_at = ?
			WHERE tenant = ? AND id = ?`, a.Count, nanos(a.LastEventAt), string(ids), a.LastSeq, nanos(a.UpdatedAt), tenant, a.ID); err != nil {
			return dbError(err)
		}
	}
	return dbError(tx.Commit())
}

// notificationID is the id of an alert's notification to its rule's
// channel i.
func notificationID(alertID string, i int) string { return alertID + "." + strconv.Itoa(i) }

func orEmptyMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func scanAlert(r rowScanner) (*auditkeep.Alert, error) {
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
// EINVALID for a malformed cursor, EUNAVAILABLE when storage fails.
func (s *Store) ListAlerts(ctx context.Context, tenant string, f auditkeep.AlertFilter) ([]*auditkeep.Alert, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = auditkeep.DefaultLimit
	}
	limit = min(limit, auditkeep.MaxLimit)
	where := []string{"tenant = ?"}
	args := []any{tenant}
	in := func(col string, vals []string) {
		if len(vals) == 0 {
			return
		}
		where = append(where, col+" IN (?"+strings.Repeat(", ?", len(vals)-1)+")")
		for _, v := range vals {
			args = append(args, v)
		}
	}
	in("state", f.States)
	in("severity", f.Severities)
	if f.RuleID != "" {
		where = append(where, "rule_id = ?")
		args = append(args, f.RuleID)
	}
	if f.LastSeqAfter > 0 {
		where = append(where, "last_seq > ?")
		args = append(args, f.LastSeqAfter)
	}
	if f.Cursor != "" {
		c, err := auditkeep.DecodeAlertCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		where = append(where, "(created_at < ? OR (created_at = ? AND id < ?))")
		args = append(args, c.At.UnixNano(), c.At.UnixNano(), c.ID)
	}
	args = append(args, limit+1)
	rows, err := s.r.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM alerts WHERE %s ORDER BY created_at DESC, id DESC LIMIT ?",
		alertColumns, strings.Join(where, " AND ")), args...)
	if err != nil {
		return nil, "", dbError(err)
	}
	defer rows.Close()
	out := []*auditkeep.Alert{}
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, "", dbError(err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, "", dbError(err)
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
// when storage fails.
func (s *Store) GetAlert(ctx context.Context, tenant, id string) (*auditkeep.Alert, error) {
	return getAlert(ctx, s.r, tenant, id)
}

func getAlert(ctx context.Context, q querier, tenant, id string) (*auditkeep.Alert, error) {
	a, err := scanAlert(q.QueryRowContext(ctx, "SELECT "+alertColumns+" FROM alerts WHERE tenant = ? AND id = ?", tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "alert %q not found", id)
	}
	if err != nil {
		return nil, dbError(err)
	}
	return a, nil
}

// SetAlertState acknowledges or resolves the tenant's alert. Returns
// ENOTFOUND, ECONFLICT, EINVALID, EUNAVAILABLE when storage fails.
func (s *Store) SetAlertState(ctx context.Context, tenant, id, state, by string, at time.Time) (*auditkeep.Alert, error) {
	var query string
	switch state {
	case auditkeep.AlertAcknowledged:
		query = "UPDATE alerts SET state = 'acknowledged', acknowledged_at = ?, acknowledged_by = ?, updated_at = ? WHERE tenant = ? AND id = ? AND state = 'open'"
	case auditkeep.AlertResolved:
		query = "UPDATE alerts SET state = 'resolved', resolved_at = ?, resolved_by = ?, updated_at = ? WHERE tenant = ? AND id = ? AND state <> 'resolved'"
	default:
		return nil, auditkeep.FieldErrorf("state", "state must be acknowledged or resolved")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, dbError(err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, query, nanos(at), by, nanos(at), tenant, id)
	if err != nil {
		return nil, dbError(err)
	}
	n, _ := res.RowsAffected()
	a, err := getAlert(ctx, tx, tenant, id)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, auditkeep.Errorf(auditkeep.ECONFLICT, "alert %q is %s", id, a.State)
	}
	return a, dbError(tx.Commit())
}

const notificationColumns = `n.tenant, n.id, n.alert_id, n.rule_id, n.channel, n.target, n.attempts, n.next_attempt_at,
	n.created_at, n.delivered_at, n.last_error`

// DueNotifications claims due notifications for owner. Returns
// EUNAVAILABLE when storage fails.
func (s *Store) DueNotifications(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*auditkeep.AlertNotification, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, dbError(err)
	}
	defer tx.Rollback()
	clock := time.Now().UnixNano()
	rows, err := tx.QueryContext(ctx, `SELECT `+notificationColumns+` FROM alert_notifications n
		WHERE n.delivered_at = 0 AND n.next_attempt_at > 0 AND n.next_attempt_at <= ? AND (n.lease_owner = ? OR n.lease_until < ?)
		ORDER BY n.next_attempt_at, n.tenant, n.id LIMIT ?`, now.UnixNano(), owner, clock, max(limit, 1))
	if err != nil {
		return nil, dbError(err)
	}
	var out []*auditkeep.AlertNotification
	for rows.Next() {
		n := &auditkeep.AlertNotification{}
		var target string
		var next, created, delivered int64
		if err := rows.Scan(&n.Tenant, &n.ID, &n.AlertID, &n.RuleID, &n.Channel, &target, &n.Attempts, &next, &created, &delivered, &n.LastError); err != nil {
			rows.Close()
			return nil, dbError(err)
		}
		chs, err := auditkeep.UnmarshalAlertChannels([]byte(target))
		if err != nil || len(chs) != 1 {
			rows.Close()
			return nil, dbError(fmt.Errorf("notification %s: bad target: %v", n.ID, err))
		}
		n.Target = chs[0]
		n.NextAttemptAt, n.CreatedAt, n.DeliveredAt = fromNanos(next), fromNanos(created), fromNanos(delivered)
		out = append(out, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	for _, n := range out {
		if _, err := tx.ExecContext(ctx, "UPDATE alert_notifications SET lease_owner = ?, lease_until = ? WHERE tenant = ? AND id = ?",
			owner, clock+int64(lease), n.Tenant, n.ID); err != nil {
			return nil, dbError(err)
		}
		if n.Alert, err = getAlert(ctx, tx, n.Tenant, n.AlertID); err != nil {
			return nil, err
		}
	}
	return out, dbError(tx.Commit())
}

// NotificationDelivered marks the notification delivered. Returns
// ECONFLICT, ENOTFOUND, EUNAVAILABLE when storage fails.
func (s *Store) NotificationDelivered(ctx context.Context, tenant, id, owner string, at time.Time) error {
	return s.finishNotification(ctx, tenant, id, owner, func(tx *sql.Tx, ruleID string, ch int) error {
		if _, err := tx.ExecContext(ctx, "UPDATE alert_notifications SET delivered_at = ?, lease_owner = '', lease_until = 0 WHERE tenant = ? AND id = ?",
			nanos(at), tenant, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO alert_channel_status (tenant, rule_id, channel, state, last_success_at) VALUES (?, ?, ?, 'ok', ?)
			ON CONFLICT (tenant, rule_id, channel) DO UPDATE SET state = 'ok', last_success_at = excluded.last_success_at`,
			tenant, ruleID, ch, nanos(at))
		return err
	})
}

// NotificationFailed records a failed attempt. Returns ECONFLICT,
// ENOTFOUND, EUNAVAILABLE when storage fails.
func (s *Store) NotificationFailed(ctx context.Context, tenant, id, owner, message string, at, next time.Time) error {
	return s.finishNotification(ctx, tenant, id, owner, func(tx *sql.Tx, ruleID string, ch int) error {
		if _, err := tx.ExecContext(ctx, `UPDATE alert_notifications SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?,
			lease_owner = '', lease_until = 0 WHERE tenant = ? AND id = ?`, message, nanos(next), tenant, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO alert_channel_status (tenant, rule_id, channel, state, last_error, last_error_at) VALUES (?, ?, ?, 'failing', ?, ?)
			ON CONFLICT (tenant, rule_id, channel) DO UPDATE SET state = 'failing', last_error = excluded.last_error, last_error_at = excluded.last_error_at`,
			tenant, ruleID, ch, message, nanos(at))
		return err
	})
}

// finishNotification runs fn on a notification owner holds the claim of;
// the channel's status is kept only while the rule's channel at that index
// is the one the notification went to.
func (s *Store) finishNotification(ctx context.Context, tenant, id, owner string, fn func(tx *sql.Tx, ruleID string, ch int) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return dbError(err)
	}
	defer tx.Rollback()
	var ruleID, target, leaseOwner string
	var ch int
	err = tx.QueryRowContext(ctx, "SELECT rule_id, channel, target, lease_owner FROM alert_notifications WHERE tenant = ? AND id = ?", tenant, id).
		Scan(&ruleID, &ch, &target, &leaseOwner)
	if errors.Is(err, sql.ErrNoRows) {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "notification %q not found", id)
	}
	if err != nil {
		return dbError(err)
	}
	if leaseOwner != owner {
		return auditkeep.Errorf(auditkeep.ECONFLICT, "notification %q is delivered by another node", id)
	}
	if err := fn(tx, ruleID, ch); err != nil {
		return dbError(err)
	}
	// Drop the status again where the rule no longer has this channel.
	var channels string
	err = tx.QueryRowContext(ctx, "SELECT channels FROM alert_rules WHERE tenant = ? AND id = ?", tenant, ruleID).Scan(&channels)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return dbError(err)
	}
	chs, _ := auditkeep.UnmarshalAlertChannels([]byte(channels))
	sent, _ := auditkeep.UnmarshalAlertChannels([]byte(target))
	if err != nil || ch >= len(chs) || len(sent) != 1 || !auditkeep.SameChannel(chs[ch], sent[0]) {
		if _, err := tx.ExecContext(ctx, "DELETE FROM alert_channel_status WHERE tenant = ? AND rule_id = ? AND channel = ?", tenant, ruleID, ch); err != nil {
			return dbError(err)
		}
	}
	return dbError(tx.Commit())
}
