package changes

import (
	"encoding/binary"
	"math/bits"
	"strings"
	"sync"
	"sync/atomic"
)

// matcher is a rule set compiled into one automaton over path segments.
//
// The rules together form a nondeterministic automaton whose states are the
// positions inside each rule ("rule r has matched its first i segments").
// A state of the matcher is the set of positions that the path read so far
// can be at; it is built the first time a path reaches it, and it remembers
// where each key and index it has seen leads. So after the first events of
// a tenant, following a document's paths costs one map lookup per segment,
// however many rules there are, instead of matching every rule's globs
// against every path. A state from which no rule can match any longer is
// dead: RedactEvent does not walk below it.
//
// The number of states and of remembered transitions is bounded, so
// documents with many distinct keys cannot make it grow without end; past
// the bounds, transitions are computed each time. A matcher is safe for
// concurrent use.
type matcher struct {
	pos   []position // every position of every rule, rule after rule
	words int        // length of a state's set, in 64-bit words
	start *state

	mu     sync.Mutex
	states map[string]*state // interned states by their set
	cached int               // remembered transitions, all states together
}

// position is one position inside a rule: it has matched the segments
// before seg. The position after a rule's last segment is final.
type position struct {
	seg   segment
	final bool
}

// state is a set of positions, with the transitions seen so far.
type state struct {
	set    []uint64
	accept bool // the path is matched by a rule: its value is redacted
	dead   bool // no rule matches this path or any path below it
	// interned states remember transitions: lowercased or not, a key
	// leads to the same state. They are replaced whole (copy on write),
	// so that reading them takes no lock.
	interned bool
	keys     atomic.Pointer[map[string]*state]
	indexes  atomic.Pointer[map[int]*state]
}

// Bounds of a matcher's memory.
const (
	maxStates           = 1024
	maxTransitions      = 1 << 15 // all states together
	maxStateTransitions = 1024    // of one state, keys and indexes each
)

func newMatcher(rules []pattern) *matcher {
	m := &matcher{states: map[string]*state{}}
	starts := make([]int, 0, len(rules))
	for _, p := range rules {
		starts = append(starts, len(m.pos))
		for _, s := range p {
			m.pos = append(m.pos, position{seg: s})
		}
		m.pos = append(m.pos, position{final: true})
	}
	m.words = (len(m.pos) + 63) / 64
	set := make([]uint64, m.words)
	for _, q := range starts {
		m.add(set, q)
	}
	m.start = m.intern(set)
	return m
}

// add puts position q into set, with the positions after each "**" that
// follows it (a "**" may match no segment).
func (m *matcher) add(set []uint64, q int) {
	for {
		set[q/64] |= 1 << (q % 64)
		if m.pos[q].final || !m.pos[q].seg.deep {
			return
		}
		q++
	}
}

// next returns the set of positions reached from s by reading seg (its key
// lowercased).
func (m *matcher) next(s *state, seg segment) []uint64 {
	set := make([]uint64, m.words)
	for w, word := range s.set {
		for word != 0 {
			q := w*64 + bits.TrailingZeros64(word)
			word &= word - 1
			p := m.pos[q]
			switch {
			case p.final:
			case p.seg.deep:
				m.add(set, q) // "**" takes one more segment
			case segMatch(p.seg, seg):
				m.add(set, q+1)
			}
		}
	}
	return set
}

// intern returns the state of set, creating it (interned while there are
// fewer than maxStates).
func (m *matcher) intern(set []uint64) *state {
	b := make([]byte, 0, 8*len(set))
	for _, w := range set {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.states[string(b)]; ok {
		return s
	}
	s := &state{set: set, dead: true}
	for w, word := range set {
		if word != 0 {
			s.dead = false
		}
		for word != 0 {
			q := w*64 + bits.TrailingZeros64(word)
			word &= word - 1
			if m.pos[q].final {
				s.accept = true
			}
		}
	}
	if len(m.states) < maxStates {
		s.interned = true
		m.states[string(b)] = s
	}
	return s
}

// key returns the state reached from s by reading an object key (as
// written in the document: keys match case-insensitively).
func (m *matcher) key(s *state, k string) *state {
	if t := s.keys.Load(); t != nil {
		if n, ok := (*t)[k]; ok {
			return n
		}
	}
	n := m.intern(m.next(s, segment{key: strings.ToLower(k)}))
	if s.interned {
		remember(m, &s.keys, k, n)
	}
	return n
}

// index returns the state reached from s by reading array index i.
func (m *matcher) index(s *state, i int) *state {
	if t := s.indexes.Load(); t != nil {
		if n, ok := (*t)[i]; ok {
			return n
		}
	}
	n := m.intern(m.next(s, segment{index: i, isIndex: true}))
	if s.interned {
		remember(m, &s.indexes, i, n)
	}
	return n
}

// remember adds the transition on k to n to the map t, within the bounds.
func remember[K comparable](m *matcher, t *atomic.Pointer[map[K]*state], k K, n *state) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := t.Load()
	if m.cached >= maxTransitions || old != nil && len(*old) >= maxStateTransitions {
		return
	}
	c := make(map[K]*state, 1)
	if old != nil {
		if _, ok := (*old)[k]; ok {
			return
		}
		c = make(map[K]*state, len(*old)+1)
		for ok, ov := range *old {
			c[ok] = ov
		}
	}
	c[k] = n
	t.Store(&c)
	m.cached++
}

// walk returns the state reached from s by reading path (keys lowercased
// or not).
func (m *matcher) walk(s *state, path []segment) *state {
	for _, seg := range path {
		if s.dead {
			return s
		}
		if seg.isIndex {
			s = m.index(s, seg.index)
		} else {
			s = m.key(s, seg.key)
		}
	}
	return s
}

// within returns the state reached from s by reading path, stopping at the
// first accepting state: a value that a rule names is hidden whole, so the
// values inside it are hidden too ("env.*" hides "env.A" and "env.A.b").
func (m *matcher) within(s *state, path []segment) *state {
	for i := range path {
		if s.dead || s.accept {
			return s
		}
		s = m.walk(s, path[i:i+1])
	}
	return s
}
