// Package docs holds the documents the server serves and the tests check:
// the API's OpenAPI description and the Grafana dashboard.
package docs

import _ "embed"

// OpenAPI is the description of the /v1 API, served at GET /v1/openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte
