export * from './socket-host.js';
