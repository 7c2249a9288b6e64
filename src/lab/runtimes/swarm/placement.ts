// Where the swarm runtime's services may run: a swarm placement constraint per endpoint (`node.labels.site==a`,
// `node.hostname==h`, `node.role==manager`), from the scenario's `placement:` and the CLI's `--server-node`,
// `--client-node`, `--relay-node`. A flag wins over the scenario's field for its endpoint, and the notice says so.

export const ROLES = ['server', 'client', 'relay'] as const;
export type PlacementRole = (typeof ROLES)[number];

/** Where each endpoint's service may run: swarm placement constraints. */
export type Placement = Partial<Record<PlacementRole, string>>;

const FLAG: Record<PlacementRole, string> = {
  server: '--server-node',
  client: '--client-node',
  relay: '--relay-node',
};

/**
 * The scenario's placement with the flags' over it, and one phrase per placed endpoint saying where its constraint
 * came from: `server on node.labels.a==1 (scenario)`, `client on node.hostname==h (--client-node, over the
 * scenario's node.labels.b==1)`.
 */
export function mergePlacement(
  scenario: Placement | undefined,
  flags: Placement | undefined,
): { placement: Placement; said: string[] } {
  const placement: Placement = {};
  const said: string[] = [];
  for (const r of ROLES) {
    const s = scenario?.[r];
    const f = flags?.[r];
    if (f !== undefined) {
      placement[r] = f;
      said.push(`${r} on ${f} (${FLAG[r]}${s !== undefined && s !== f ? `, over the scenario's ${s}` : ''})`);
    } else if (s !== undefined) {
      placement[r] = s;
      said.push(`${r} on ${s} (scenario)`);
    }
  }
  return { placement, said };
}
