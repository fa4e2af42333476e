package cli

import "slices"

// EnvNames returns the name of every environment variable hubsync reads as
// a setting, sorted: each setting's variable, and for each secret setting
// its _FILE variant, which reads the secret from a file (Docker and
// Kubernetes secrets). Deployment manifests are checked against it, so that
// a manifest cannot set a variable the binary would silently ignore.
func EnvNames() []string {
	names := make([]string, 0, len(settings)+3)
	for _, s := range settings {
		names = append(names, s.env)
		if s.secret {
			names = append(names, s.env+fileSuffix)
		}
	}
	slices.Sort(names)
	// A _FILE variant may also be a setting of its own.
	return slices.Compact(names)
}
