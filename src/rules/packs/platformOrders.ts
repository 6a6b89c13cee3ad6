import { amount, bullets, code, date, facts, link, orderItems, paragraph, SERVICE, value, type PlatformEvent } from './platformEmails.ts';

const ORDER = value('Order', 'data.orderId');
const VIEW_ORDER = { label: 'View your order', url: 'data.url' };

/** The data of `order.service-delivered`, the pack's key email: how to reach what was delivered. */
export type ServiceDelivered = {
  orderId: string;
  serviceName: string;
  ipAddress: string;
  hostname: string;
  sshCommand: string;
  endpoints: { http: string; https: string };
  securityRecommendations: string[];
  dashboardUrl: string;
};

const SERVICE_DELIVERED_SAMPLE: ServiceDelivered = {
  orderId: 'ORD-1042',
  serviceName: 'VPS Standard (2 vCPU, 4 GB RAM)',
  ipAddress: '203.0.113.24',
  hostname: 'vps-1042.cloud.example.com',
  sshCommand: 'ssh root@203.0.113.24',
  endpoints: { http: 'http://vps-1042.cloud.example.com/', https: 'https://vps-1042.cloud.example.com/' },
  securityRecommendations: [
    'Disable password login for SSH and use keys only',
    'Enable the firewall and open only the ports you use',
    'Install security updates now and turn on automatic updates',
    'Create a non-root user for daily work',
  ],
  dashboardUrl: 'https://portal.example.com/services/svc-881',
};

/** The customer's side of the order events (SPEC §3.2). */
export const orderEvents: PlatformEvent[] = [
  {
    type: 'order.created',
    inapp: {
      title: 'Order {{data.orderId}} received',
      body: 'Thank you for your order{{#if data.total}} of {{data.total}} {{data.currency}}{{/if}}. A confirmation listing every item is on its way by email.',
      url: '{{data.url}}',
    },
    email: {
      subject: 'Your order {{data.orderId}} is confirmed',
      heading: 'Order confirmation',
      intro: 'Thank you for your order. Here is what you ordered; we will let you know as soon as it is ready.',
      blocks: [facts(ORDER), orderItems()],
      action: VIEW_ORDER,
    },
    sampleData: {
      orderId: 'ORD-1042',
      customerName: 'Dana Whitfield',
      items: [
        { name: 'VPS Standard (2 vCPU, 4 GB RAM)', quantity: 1, unitPrice: '24.00' },
        { name: 'Daily backups', quantity: 1, unitPrice: '4.80' },
        { name: 'Additional IPv4 address', quantity: 2, unitPrice: '2.50' },
      ],
      total: '33.80',
      currency: 'EUR',
      url: 'https://portal.example.com/orders/ORD-1042',
    },
  },
  {
    type: 'order.fulfilled',
    inapp: {
      title: 'Order {{data.orderId}} fulfilled',
      body: 'Everything in your order is done{{#if data.fulfilledAt}} as of {{formatDate data.fulfilledAt}}{{/if}}.',
      url: '{{data.url}}',
    },
    email: {
      subject: 'Order {{data.orderId}} is fulfilled',
      heading: 'Your order is complete',
      intro: 'Everything in order {{data.orderId}} has been fulfilled. Each service in it sends its access details in an email of its own once it is ready.',
      blocks: [facts(ORDER, date('Fulfilled', 'data.fulfilledAt'))],
      action: VIEW_ORDER,
    },
    sampleData: { orderId: 'ORD-1042', fulfilledAt: '2026-11-23T10:42:00Z', url: 'https://portal.example.com/orders/ORD-1042' },
  },
  {
    type: 'order.failed',
    inapp: {
      title: 'Order {{data.orderId}} could not be completed',
      body: '{{#if data.error}}{{data.error}}. {{/if}}Our operations team has been alerted.',
      url: '{{data.url}}',
    },
    email: {
      subject: 'There was a problem with your order {{data.orderId}}',
      heading: 'Your order could not be completed',
      intro: 'We could not complete order {{data.orderId}}. Our operations team has been alerted and will follow up with you.',
      blocks: [facts(ORDER, value('Reason', 'data.error'))],
      action: VIEW_ORDER,
    },
    sampleData: {
      orderId: 'ORD-1043',
      error: 'Payment authorisation was declined by the card issuer',
      affectedResources: ['order ORD-1043', 'payment pay_8Qz1'],
      url: 'https://portal.example.com/orders/ORD-1043',
    },
  },
  {
    type: 'order.cancelled',
    inapp: {
      title: 'Order {{data.orderId}} cancelled',
      body: '{{#if data.reason}}{{data.reason}}. {{/if}}{{#if data.refundAmount}}{{data.refundAmount}} {{data.currency}} will be refunded.{{/if}}',
      url: '{{data.url}}',
    },
    email: {
      subject: 'Order {{data.orderId}} is cancelled',
      heading: 'Your order was cancelled',
      intro: 'Order {{data.orderId}} has been cancelled.',
      blocks: [
        facts(ORDER, value('Reason', 'data.reason'), amount('Refund', 'data.refundAmount')),
        paragraph('We will confirm by email once the refund is completed.', 'data.refundAmount'),
      ],
      action: VIEW_ORDER,
    },
    sampleData: { orderId: 'ORD-1044', reason: 'Cancelled at your request', refundAmount: '33.80', currency: 'EUR', url: 'https://portal.example.com/orders/ORD-1044' },
  },
  {
    type: 'order.service-delivered',
    inapp: {
      title: `${SERVICE} is ready`,
      body: 'Reach it at {{data.hostname}}{{#if data.ipAddress}} ({{data.ipAddress}}){{/if}}. Connection details and security recommendations are in your email.',
      url: '{{data.dashboardUrl}}',
    },
    email: {
      subject: `${SERVICE} is ready: your access details`,
      heading: 'Your service is ready',
      intro: `${SERVICE}{{#if data.orderId}} from order {{data.orderId}}{{/if}} is up and running. Here is how to reach it.`,
      blocks: [
        facts(
          value('Hostname', 'data.hostname'),
          value('IP address', 'data.ipAddress'),
          code('SSH', 'data.sshCommand'),
          link('HTTP', 'data.endpoints.http'),
          link('HTTPS', 'data.endpoints.https'),
        ),
        bullets('Security recommendations', 'data.securityRecommendations'),
        paragraph('For your security, this email holds no password: manage SSH keys and credentials from the dashboard.'),
      ],
      action: { label: 'Open the dashboard', url: 'data.dashboardUrl' },
    },
    sampleData: SERVICE_DELIVERED_SAMPLE,
  },
];
