/**
 * Pulumi entry point (Pulumi.yaml `main: stacks/`): validate the stack config, read the
 * repo's generated artifacts, compose the components. The exported object is the stack's
 * outputs.
 */
import { readStackConfig } from './config';
import { createStack } from './program';
import { loadSources } from './sources';

export = createStack(readStackConfig(), loadSources());
