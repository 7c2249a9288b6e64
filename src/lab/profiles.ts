// Named network profiles usable in place of a netem string (`network: { profile: lte }`).
// Figures are one-way (applied each direction) and typical, not worst case; docs/lab.md lists them.
export const PROFILES: Record<string, { netem: string; description: string }> = {
  '3g': {
    netem: 'delay 75ms 20ms distribution normal loss 1% rate 2mbit',
    description: 'UMTS/HSPA: 150 ms RTT, 2 Mbit/s, 1% loss',
  },
  'dsl-poor': {
    netem: 'delay 25ms 5ms loss 2% rate 4mbit',
    description: 'long copper loop: 50 ms RTT, 4 Mbit/s, 2% loss',
  },
  wifi: {
    netem: 'delay 3ms 2ms loss 1% duplicate 0.1% rate 50mbit',
    description: 'busy 802.11: 6 ms RTT, 50 Mbit/s, 1% loss',
  },
  lte: { netem: 'delay 25ms 8ms loss 0.5% rate 30mbit', description: '4G: 50 ms RTT, 30 Mbit/s, 0.5% loss' },
  satellite: {
    netem: 'delay 300ms 10ms loss 1% rate 10mbit',
    description: 'geostationary: 600 ms RTT, 10 Mbit/s, 1% loss',
  },
  intercontinental: {
    netem: 'delay 75ms 2ms loss 0.2% rate 100mbit',
    description: 'fibre across an ocean: 150 ms RTT, 100 Mbit/s',
  },
};
