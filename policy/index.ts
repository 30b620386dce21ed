/**
 * Creature Vision policy pack: `pulumi preview --policy-pack policy` (CI runs it on every
 * preview and deploy). Rules live in ./rules.ts as plain functions; see policy/README.md.
 */
import { PolicyPack } from '@pulumi/policy';
import { policies } from './policies';

new PolicyPack('creature-vision', { policies });
