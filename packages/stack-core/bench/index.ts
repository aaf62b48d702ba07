import './tcp.js';
