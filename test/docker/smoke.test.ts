import { execFileSync } from 'node:child_process';
import type { StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createInternalNetwork,
  dockerAvailable,
  type LabNetwork,
  startNode,
  sweepLeftovers,
  teardown,
} from '../../src/lab/index.js';
import { runDocker } from '../helpers/docker.js';

const ECHO = `const s=require('dgram').createSocket('udp4');let k=0;s.on('message',(m,r)=>s.send(m,r.port,r.address,()=>{if(++k>=50)process.exit(0)}));s.bind(7000);setTimeout(()=>process.exit(1),8000);`;
const CLIENT = (ip: string) =>
  `const s=require('dgram').createSocket('udp4');let n=0;s.on('message',()=>{if(++n===50){console.log('got '+n);process.exit(0)}});` +
  `for(let i=0;i<50;i++)s.send(Buffer.alloc(1200,i),7000,'${ip}');setTimeout(()=>{console.log('got '+n);process.exit(1)},5000);`;

describe.skipIf(!runDocker)('docker smoke: two containers on an internal network exchange UDP', () => {
  let net: LabNetwork | undefined;
  const nodes: StartedTestContainer[] = [];

  beforeAll(async () => {
    expect(await dockerAvailable(), 'Docker engine must answer (LAB_REQUIRE_DOCKER=1)').toBe(true);
    await sweepLeftovers();
    net = await createInternalNetwork('udplab-smoke');
    nodes.push(await startNode({ network: net, name: 'server' }));
    nodes.push(await startNode({ network: net, name: 'client' }));
  });

  afterAll(async () => {
    await teardown(nodes, net);
    const left = execFileSync('docker', ['ps', '-aq', '--filter', `label=udplab.owner=${process.pid}`])
      .toString()
      .trim();
    expect(left).toBe('');
  });

  it('runs udplab in the image', async () => {
    const r = await nodes[0]!.exec(['udplab', '--version']);
    expect(r.exitCode).toBe(0);
    expect(r.output).toMatch(/\d+\.\d+\.\d+/);
  });

  it('echoes 50 datagrams of 1200 bytes between containers', async () => {
    const [server, client] = nodes as [StartedTestContainer, StartedTestContainer];
    const ip = server.getIpAddress(net!.name);
    const echo = server.exec(['node', '-e', ECHO]);
    let r = await client.exec(['node', '-e', CLIENT(ip)]);
    for (let i = 0; i < 20 && r.exitCode !== 0; i++) {
      await new Promise((ok) => setTimeout(ok, 100)); // echo server still binding
      r = await client.exec(['node', '-e', CLIENT(ip)]);
    }
    expect(r.output.trim()).toBe('got 50');
    await echo;
  });

  it('uses an internal, labelled network (no route out)', () => {
    const info = JSON.parse(execFileSync('docker', ['network', 'inspect', net!.name]).toString())[0];
    expect(info.Internal).toBe(true);
    expect(info.Labels.udplab).toBe('1');
  });
});
