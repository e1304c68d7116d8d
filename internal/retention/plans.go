package retention

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/auditkeep/auditkeep"
)

// Plans maps plan names to retention days (0 = unlimited). An operator
// defines them in configuration; a tenant on a plan keeps its events that
// many days.
type Plans map[string]int

// DefaultPlans are the plans when none are configured, after the platforms
// auditkeep serves: user 3 days, team 7, business 30 (a console's plans),
// standard 90 (a cloud's default, archived after), enterprise 365 (its
// extended retention).
func DefaultPlans() Plans {
	return Plans{"user": 3, "team": 7, "business": 30, "standard": 90, "enterprise": 365}
}

// ParsePlans reads "name=days,name=days". Names are lowercase letters,
// digits, '-' and '_'; days a whole number ≥ 0 (0 = unlimited). Returns
// EINVALID naming "plans".
func ParsePlans(s string) (Plans, error) {
	p := Plans{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, days, ok := strings.Cut(item, "=")
		name = strings.TrimSpace(name)
		n, err := strconv.Atoi(strings.TrimSpace(days))
		if !ok || err != nil || n < 0 {
			return nil, auditkeep.FieldErrorf("plans", "plans: %q is not name=days with days a whole number ≥ 0", item)
		}
		if !ValidPlanName(name) {
			return nil, auditkeep.FieldErrorf("plans", "plans: %q is not a plan name (lowercase letters, digits, '-' and '_')", name)
		}
		if _, dup := p[name]; dup {
			return nil, auditkeep.FieldErrorf("plans", "plans: %q is given twice", name)
		}
		p[name] = n
	}
	if len(p) == 0 {
		return nil, auditkeep.FieldErrorf("plans", "plans: no plan given; write name=days,name=days")
	}
	return p, nil
}

// ValidPlanName reports whether s may name a plan.
func ValidPlanName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// String renders the plans as ParsePlans reads them, sorted by days then name.
func (p Plans) String() string {
	names := slices.Collect(maps.Keys(p))
	slices.SortFunc(names, func(a, b string) int {
		if p[a] != p[b] {
			return p[a] - p[b]
		}
		return strings.Compare(a, b)
	})
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%d", n, p[n])
	}
	return b.String()
}

// Days returns the retention of plan. Returns EINVALID naming "plan" for an
// unknown plan, listing the known ones.
func (p Plans) Days(plan string) (int, error) {
	d, ok := p[plan]
	if !ok {
		return 0, auditkeep.FieldErrorf("plan", "plan %q is not one of the configured plans (%s)", plan, p.String())
	}
	return d, nil
}
