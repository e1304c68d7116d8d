package postgres

// SetFacetTallyMax sets the most events a filtered facet of s tallies.
func SetFacetTallyMax(s *Store, n int) { s.facetTallyMax = n }
