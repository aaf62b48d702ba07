/**
 * The link the driver runs a stack on is tap-io's `Link` (declared in frame-ring): every
 * link implements that one contract, and the driver needs nothing beyond it.
 */
import type { Link } from '@tapstack/frame-ring';

/** @deprecated The same thing as `Link` (from `@tapstack/tap-io` or `@tapstack/frame-ring`). */
export type DriverLink = Link;
