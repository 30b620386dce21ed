/**
 * Pulumi entry point (package.json "main"; Pulumi.yaml has no `main`, so the CLI runs this
 * from the project root with its tsconfig.json): validate the stack config, read the
 * repository artifacts the stack ships, compose the components. The exported object is
 * the stack's outputs. Paths are resolved from each source file's own location, never
 * from the working directory.
 */
import { readStackConfig } from './config';
import { createStack } from './program';
import { loadRepoArtifacts } from './repo-artifacts';

export = createStack(readStackConfig(), loadRepoArtifacts());
