package search_test

import (
	"errors"
	"fmt"

	"github.com/auditkeep/auditkeep/internal/search"
)

func ExampleParse() {
	f, err := search.Parse(`actor:alice@example.com action:token.* -status:success created:>=2026-11-01 "prod db" deplo`)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("from:", f.From.Format("2006-01-02T15:04:05Z07:00"))
	for _, t := range f.Terms {
		fmt.Printf("term: %s %q negate=%v\n", t.Field, t.Values, t.Negate)
	}
	for _, t := range f.Text {
		fmt.Printf("text: %q phrase=%v prefix=%v\n", t.Text, t.Phrase, t.Prefix)
	}
	// Output:
	// from: 2026-11-01T00:00:00Z
	// term: actor ["alice@example.com"] negate=false
	// term: action ["token.*"] negate=false
	// term: status ["success"] negate=true
	// text: "prod db" phrase=true prefix=false
	// text: "deplo" phrase=false prefix=true
}

func ExampleError() {
	_, err := search.Parse("actr:alice")
	var se *search.Error
	if errors.As(err, &se) {
		fmt.Println(se.Pos)
		fmt.Println(err)
	}
	// Output:
	// 0
	// unknown key "actr" at 0; did you mean "actor"?
}
