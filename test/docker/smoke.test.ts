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

// echo server: answers every datagram, exits on "bye" (or after 20 s)
const ECHO = `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>{if(m.toString()==='bye')process.exit(0);s.send(m,r.port,r.address)});s.bind(7000);setTimeout(()=>process.exit(1),20000);`;
// client: 50 numbered 1200-byte datagrams, re-sending the missing ones every 100 ms until all came back
const CLIENT = (ip: string) =>
  `const s=require('dgram').createSocket('udp4');const got=new Set();` +
  `const send=()=>{for(let i=0;i<50;i++)if(!got.has(i))s.send(Buffer.alloc(1200,i),7000,'${ip}')};` +
  `s.on('message',(m)=>{got.add(m[0]);if(got.size===50){console.log('got 50');s.send('bye',7000,'${ip}',()=>process.exit(0))}});` +
  `send();setInterval(send,100);setTimeout(()=>{console.log('got '+got.size);process.exit(1)},15000);`;

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
    const r = await client.exec(['node', '-e', CLIENT(ip)]);
    expect(r.output.trim()).toBe('got 50');
    await echo;
  });

  it('uses an internal, labelled network (no route out)', () => {
    const info = JSON.parse(execFileSync('docker', ['network', 'inspect', net!.name]).toString())[0];
    expect(info.Internal).toBe(true);
    expect(info.Labels.udplab).toBe('1');
  });
});
