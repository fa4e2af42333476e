package hubapi_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/hubsync/hubsync/sync/hubapi"
)

// Paging through all clients, each record kept as received, and telling
// API errors from the rest.
func ExampleClient_ListClients() {
	c, err := hubapi.New(hubapi.Config{
		BaseURL:        "http://127.0.0.1:8360",
		PartnerID:      "demo-partner",
		APIKey:         "demo-key",
		RateLimit:      10,
		RequestTimeout: 30 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for offset := 0; ; {
		page, err := c.ListClients(ctx, hubapi.ListParams{Offset: offset, Limit: 100, Sort: "id"})
		var apiErr *hubapi.Error
		if errors.As(err, &apiErr) {
			log.Fatalf("API refused (trace %s): %v", apiErr.TraceID, err)
		} else if err != nil {
			log.Fatal(err)
		}
		for _, rec := range page.Records {
			fmt.Println(string(rec))
		}
		n := len(page.Records)
		offset += n
		if n == 0 || (page.TotalKnown && offset >= page.Total) {
			break
		}
	}
}
