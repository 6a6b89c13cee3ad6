import { facts, paragraph, SERVICE, THE_SERVICE, value, type PlatformEvent } from './platformEmails.ts';

/** "Step 2/4: Configuring…" (SPEC §3.2), from `data.step`, `data.totalSteps` and `data.stepName`. */
export const PROGRESS = 'Step {{data.step}}/{{data.totalSteps}}{{#if data.stepName}}: {{data.stepName}}…{{/if}}';

const SERVICE_FACT = value('Service', 'data.serviceName');
const ORDER = value('Order', 'data.orderId');
const FOLLOW = { label: 'Follow the setup', url: 'data.url' };
const URL = 'https://portal.example.com/orders/ORD-1042/provisioning';

/** The customer's side of the provisioning events (SPEC §3.2). */
export const provisioningEvents: PlatformEvent[] = [
  {
    type: 'provisioning.started',
    inapp: {
      title: `Setting up ${THE_SERVICE}`,
      body: 'We have started setting it up{{#if data.totalSteps}} ({{data.totalSteps}} steps){{/if}} and will let you know when it is ready.',
      url: '{{data.url}}',
    },
    email: {
      subject: `We are setting up ${THE_SERVICE}`,
      heading: 'Setup has started',
      intro: `We have started setting up ${THE_SERVICE}{{#if data.orderId}} for order {{data.orderId}}{{/if}}. You will receive its access details by email as soon as it is ready.`,
      blocks: [facts(SERVICE_FACT, ORDER, value('Steps', 'data.totalSteps'))],
      action: FOLLOW,
    },
    sampleData: { orderId: 'ORD-1042', serviceName: 'VPS Standard (2 vCPU, 4 GB RAM)', totalSteps: 4, url: URL },
  },
  {
    type: 'provisioning.step-completed',
    inapp: { title: `${SERVICE} — ${PROGRESS}`, body: 'Setup is under way; we will let you know when it is ready.', url: '{{data.url}}' },
    email: {
      subject: `${SERVICE}: step {{data.step}} of {{data.totalSteps}} done`,
      heading: 'Setup progress',
      intro: `Step {{data.step}} of {{data.totalSteps}}{{#if data.stepName}} ({{data.stepName}}){{/if}} of setting up ${THE_SERVICE} is done.`,
      blocks: [facts(SERVICE_FACT, ORDER, value('Step', 'data.stepName'))],
      action: FOLLOW,
    },
    sampleData: { orderId: 'ORD-1042', serviceName: 'VPS Standard (2 vCPU, 4 GB RAM)', step: 2, totalSteps: 4, stepName: 'Configuring', url: URL },
  },
  {
    type: 'provisioning.completed',
    inapp: {
      title: `${SERVICE} is set up`,
      body: 'Setup is complete{{#if data.hostname}} on {{data.hostname}}{{/if}}. Its access details follow by email.',
      url: '{{data.url}}',
    },
    email: {
      subject: `${SERVICE} is set up`,
      heading: 'Setup is complete',
      intro: `${SERVICE} is set up. You will receive its access details in a separate email.`,
      blocks: [facts(SERVICE_FACT, ORDER, value('Hostname', 'data.hostname'))],
      action: FOLLOW,
    },
    sampleData: { orderId: 'ORD-1042', serviceName: 'VPS Standard (2 vCPU, 4 GB RAM)', hostname: 'vps-1042.cloud.example.com', url: URL },
  },
  {
    type: 'provisioning.failed',
    inapp: {
      title: `Setting up ${THE_SERVICE} failed`,
      body: '{{#if data.error}}{{data.error}}. {{/if}}Our operations team has been alerted and will follow up with you.',
      url: '{{data.url}}',
    },
    email: {
      subject: `Setting up ${THE_SERVICE} failed`,
      heading: 'Setup failed',
      intro: `We could not finish setting up ${THE_SERVICE}. Our operations team has been alerted and will follow up with you.`,
      blocks: [facts(SERVICE_FACT, ORDER, value('Failed at', 'data.stepName'), value('Reason', 'data.error'))],
      action: FOLLOW,
    },
    sampleData: {
      orderId: 'ORD-1042',
      serviceName: 'VPS Standard (2 vCPU, 4 GB RAM)',
      step: 3,
      totalSteps: 4,
      stepName: 'Attaching storage',
      error: 'Volume attach timed out after 300 s',
      affectedResources: ['vm-7f3a (compute, eu-central-1)', 'vol-19c2 (block storage, 40 GB)'],
      url: URL,
    },
  },
  {
    type: 'provisioning.rolled-back',
    inapp: {
      title: `Setup of ${THE_SERVICE} was rolled back`,
      body: 'What was set up so far has been removed. Our operations team has been alerted and will follow up with you.',
      url: '{{data.url}}',
    },
    email: {
      subject: `Setup of ${THE_SERVICE} was rolled back`,
      heading: 'Setup rolled back',
      intro: `Setting up ${THE_SERVICE} did not succeed, so what was set up so far has been removed. Our operations team has been alerted and will follow up with you.`,
      blocks: [facts(SERVICE_FACT, ORDER, value('Reason', 'data.error'))],
      action: FOLLOW,
    },
    sampleData: {
      orderId: 'ORD-1042',
      serviceName: 'VPS Standard (2 vCPU, 4 GB RAM)',
      error: 'Volume attach timed out after 300 s',
      affectedResources: ['vm-7f3a (compute, eu-central-1): deleted', 'vol-19c2 (block storage, 40 GB): released'],
      url: URL,
    },
  },
  {
    type: 'provisioning.service-suspended',
    inapp: { title: `${SERVICE} suspended`, body: '{{#if data.reason}}{{data.reason}}. {{/if}}It is unreachable until it is restored.', url: '{{data.url}}' },
    email: {
      subject: `${SERVICE} has been suspended`,
      heading: 'Service suspended',
      intro: `${SERVICE}{{#if data.hostname}} at {{data.hostname}}{{/if}} has been suspended and is unreachable until it is restored.`,
      blocks: [facts(SERVICE_FACT, value('Hostname', 'data.hostname'), value('Reason', 'data.reason')), paragraph('Your data is kept while the service is suspended.', 'data.dataRetained')],
      action: { label: 'Restore the service', url: 'data.url' },
    },
    sampleData: {
      serviceName: 'VPS Standard (2 vCPU, 4 GB RAM)',
      hostname: 'vps-1042.cloud.example.com',
      reason: 'Invoice INV-2026-0042 is 14 days overdue',
      dataRetained: true,
      url: 'https://portal.example.com/services/svc-881',
    },
  },
];
