// A real OpenID Connect provider for the social-login tests: the npm package
// `oidc-provider` on 127.0.0.1 (port 0: any free one), with one confidential
// test client and its development login form (any login name, any
// password). The account of login name NAME has the subject NAME and the
// e-mail NAME; the e-mail is asserted verified unless NAME starts with
// `unverified`. Consent is granted without a prompt (a first-party client).
//
// Arguments: a JSON object {client_id, client_secret, redirect_uris}.
// Prints `ready <issuer>` once listening; exits when stdin closes.
import Provider from 'oidc-provider';
import http from 'node:http';

const cfg = JSON.parse(process.argv[2]);
const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: cfg.client_id,
    client_secret: cfg.client_secret,
    redirect_uris: cfg.redirect_uris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  // The e-mail claims go into the ID token, as Google does.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['authnz-test-cookie-key'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: id, email_verified: !id.startsWith('unverified') };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const grant = new provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
});
server.on('request', provider.callback());
console.log(`ready ${issuer}`);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
