package cli

import (
	"context"
	"errors"
)

func cmdServe(ctx context.Context, args []string, env Env) error {
	return errors.New("serve: not built yet")
}

func cmdDocs(ctx context.Context, args []string, env Env) error {
	return errors.New("docs: not built yet")
}
