package demo

// CollectIncidents makes g collect the incidents it emits from now on, and
// returns them as they are so far.
func CollectIncidents(g *Generator) func() []Incident {
	g.incidents = &[]Incident{}
	return func() []Incident { return *g.incidents }
}
