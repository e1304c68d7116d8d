// Package alert watches each tenant's log for its alert rules: a rule
// selects events (a q query and an optional CEL condition), counts them by
// group over a sliding window of their occurred_at, and raises an alert
// when a group reaches the rule's threshold. The Evaluator is a consumer of
// the log behind a durable cursor, one per tenant across the nodes of a
// deployment; Backtest runs a rule over a past span of the log without
// raising anything.
package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/search"
)

// Rule is an alert rule compiled for evaluation. It is safe for use by
// several goroutines.
type Rule struct {
	*auditkeep.AlertRule
	match *Matcher
	prg   cel.Program // nil without a condition
}

// celEnv is the environment conditions compile in: one variable, event,
// the event as its JSON shape (maps, lists, strings, numbers as doubles,
// booleans), and the strings extension (lowerAscii, split, …).
var celEnv = func() *cel.Env {
	env, err := cel.NewEnv(
		cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)),
		ext.Strings(),
	)
	if err != nil {
		panic(err)
	}
	return env
}()

// Cost limits of a condition, so that no rule can stall evaluation.
const (
	maxConditionCost = 100000
)

// Compile checks the rule (its shape, its match parsed by the q parser,
// its condition compiled as CEL) and returns it ready to evaluate. Errors
// are EINVALID naming the field, with the position of the problem:
// "match: unknown key "actr" at 0", "condition: undeclared reference to
// 'evnt' at 1:1".
func Compile(r *auditkeep.AlertRule) (*Rule, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	f, err := search.Parse(r.Match)
	if err != nil {
		var se *search.Error
		if errors.As(err, &se) {
			return nil, auditkeep.FieldErrorf("match", "match: %s", se.Error())
		}
		return nil, auditkeep.FieldErrorf("match", "match: %s", auditkeep.ErrorMessage(err))
	}
	if !f.From.IsZero() || !f.To.IsZero() {
		return nil, auditkeep.FieldErrorf("match", "match: a rule's match takes no %s: condition; its window says how far back it counts", search.KeyCreated)
	}
	if len(f.Terms) == 0 && len(f.Text) == 0 {
		return nil, auditkeep.FieldErrorf("match", "match: select some events, such as \"action:user.login status:failure\"")
	}
	m, err := NewMatcher(f)
	if err != nil {
		return nil, auditkeep.FieldErrorf("match", "match: %s", auditkeep.ErrorMessage(err))
	}
	c := &Rule{AlertRule: r, match: m}
	if strings.TrimSpace(r.Condition) != "" {
		prg, err := compileCondition(r.Condition)
		if err != nil {
			return nil, err
		}
		c.prg = prg
	}
	return c, nil
}

// compileCondition compiles a CEL condition that must yield a bool.
func compileCondition(src string) (cel.Program, error) {
	ast, iss := celEnv.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, auditkeep.FieldErrorf("condition", "condition: %s", celIssue(iss))
	}
	if t := ast.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
		return nil, auditkeep.FieldErrorf("condition", "condition: must be true or false, not %s, at 1:1", t)
	}
	prg, err := celEnv.Program(ast, cel.CostLimit(maxConditionCost), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, auditkeep.FieldErrorf("condition", "condition: %v", err)
	}
	return prg, nil
}

// celIssue renders CEL's first error as "message at line:column" (the
// column counted from 1).
func celIssue(iss *cel.Issues) string {
	errs := iss.Errors()
	if len(errs) == 0 {
		return iss.String()
	}
	e := errs[0]
	msg := e.Message
	if e.Location != nil && e.Location.Line() > 0 {
		return fmt.Sprintf("%s at %d:%d", msg, e.Location.Line(), e.Location.Column()+1)
	}
	return msg
}

// Matches reports whether e is one of the rule's events: its match, then
// its condition. A condition that fails to evaluate on e (a missing field,
// a wrong type) returns the error; the event does not match.
func (r *Rule) Matches(e *auditkeep.Event, in *Input) (bool, error) {
	if !r.match.Match(e) {
		return false, nil
	}
	if r.prg == nil {
		return true, nil
	}
	act, err := in.activation(e)
	if err != nil {
		return false, err
	}
	out, _, err := r.prg.Eval(act)
	if err != nil {
		return false, fmt.Errorf("condition: %w", err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("condition: yielded %v, not true or false", out.Value())
	}
	return b, nil
}

// Input holds one event's CEL variables, made once for all the rules that
// look at the event.
type Input struct {
	e   *auditkeep.Event
	act map[string]any
	err error
}

func (in *Input) activation(e *auditkeep.Event) (map[string]any, error) {
	if in.e != e {
		in.e, in.act, in.err = e, nil, nil
		var m map[string]any
		b, err := json.Marshal(e)
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		if err != nil {
			in.err = err
		} else {
			in.act = map[string]any{"event": m}
		}
	}
	return in.act, in.err
}

// GroupKey is e's value of each of the rule's group_by keys.
func (r *Rule) GroupKey(e *auditkeep.Event) map[string]string {
	k := make(map[string]string, len(r.GroupBy))
	for _, g := range r.GroupBy {
		k[g] = groupValue(e, g)
	}
	return k
}

func groupValue(e *auditkeep.Event, g string) string {
	switch g {
	case auditkeep.GroupActor:
		return e.Actor.ID
	case auditkeep.GroupIP:
		return e.Context.IP
	case auditkeep.GroupTarget:
		if e.Target == nil {
			return ""
		}
		return e.Target.Type + ":" + e.Target.ID
	case auditkeep.GroupScope:
		return auditkeep.ScopePath(e.Scope)
	case auditkeep.GroupTeam:
		return e.Team
	}
	return ""
}

// groupString is the group key of e as one comparable string.
func (r *Rule) groupString(e *auditkeep.Event) string {
	var b strings.Builder
	for _, g := range r.GroupBy {
		b.WriteString(groupValue(e, g))
		b.WriteByte(0)
	}
	return b.String()
}

// keyString is groupString of a stored alert's group key.
func (r *Rule) keyString(k map[string]string) string {
	var b strings.Builder
	for _, g := range r.GroupBy {
		b.WriteString(k[g])
		b.WriteByte(0)
	}
	return b.String()
}
