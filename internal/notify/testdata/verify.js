// Verifies one webhook with the reference library, as a receiver would:
// reads {"secret","headers","body"} on stdin, prints "ok" or the error.
const { Webhook } = require("standardwebhooks");
let input = "";
process.stdin.on("data", (c) => (input += c));
process.stdin.on("end", () => {
  const { secret, headers, body } = JSON.parse(input);
  try {
    const payload = new Webhook(secret).verify(body, headers);
    console.log("ok " + JSON.stringify(payload));
  } catch (e) {
    console.log("rejected: " + e.message);
  }
});
