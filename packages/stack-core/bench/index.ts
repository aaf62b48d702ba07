import './tcp.js';

// After the TCP benchmarks have finished (they use top-level await), never interleaved with them.
await import('./ip.js');
