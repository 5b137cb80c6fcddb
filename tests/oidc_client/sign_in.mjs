// A relying party on the certified client (openid-client v6), with no special-casing:
// discovery, an authorization URL (code + PKCE S256 + nonce + state), then, given the callback
// URL on stdin, the code exchange with openid-client's own ID token checks (signature through
// the JWKS, iss, aud, exp, nonce) and UserInfo. Each step prints one JSON line on stdout.
//
// Environment: ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, SCOPE.
import * as client from "openid-client";
import { createInterface } from "node:readline";

const { ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, SCOPE } = process.env;

// The application registered client_secret_basic (the default), so it authenticates so. The
// test server listens on plain http on the loopback interface; nothing else differs.
const config = await client.discovery(
  new URL(ISSUER),
  CLIENT_ID,
  undefined,
  client.ClientSecretBasic(CLIENT_SECRET),
  { execute: [client.allowInsecureRequests] },
);

const codeVerifier = client.randomPKCECodeVerifier();
const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
const nonce = client.randomNonce();
const state = client.randomState();
const authorizationUrl = client.buildAuthorizationUrl(config, {
  redirect_uri: REDIRECT_URI,
  scope: SCOPE,
  code_challenge: codeChallenge,
  code_challenge_method: "S256",
  nonce,
  state,
});
console.log(JSON.stringify({ authorization_url: authorizationUrl.href, nonce, state }));

const lines = createInterface({ input: process.stdin });
const callback = await new Promise((resolve) => lines.once("line", resolve));
lines.close();

const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
  pkceCodeVerifier: codeVerifier,
  expectedNonce: nonce,
  expectedState: state,
  idTokenExpected: true,
});
const claims = tokens.claims();
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
console.log(
  JSON.stringify({
    id_token_claims: claims,
    userinfo,
    scope: tokens.scope,
    end_session_url: client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token }).href,
  }),
);
