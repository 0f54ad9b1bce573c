// compose-check validates a Compose file against the Compose specification with the reference loader
// (compose-go: the JSON schema plus semantic checks such as unknown services in depends_on).
// There is no Docker engine on the build machines, so this is how CI knows infra/docker-compose.yml is valid.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: compose-check <compose-file>")
		os.Exit(2)
	}
	opts, err := cli.NewProjectOptions([]string{os.Args[1]}, cli.WithOsEnv, cli.WithName("tma"), cli.WithResolvedPaths(true))
	if err == nil {
		var p interface{ ServiceNames() []string }
		p, err = opts.LoadProject(context.Background())
		if err == nil {
			fmt.Printf("valid: services %v\n", p.ServiceNames())
			return
		}
	}
	fmt.Fprintf(os.Stderr, "invalid: %v\n", err)
	os.Exit(1)
}
