package sqlite

// SetFacetTallyMax sets the most events a filtered facet tallies and
// returns the function that restores it.
func SetFacetTallyMax(n int) (restore func()) {
	old := facetTallyMax
	facetTallyMax = n
	return func() { facetTallyMax = old }
}
