import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a}from"./chunk-MOTTJ2V4.mjs";import"./chunk-6RN5U56T.mjs";import"./chunk-PNMPPFCT.mjs";import"./chunk-5BEN6JAN.mjs";export{a as openStore};
