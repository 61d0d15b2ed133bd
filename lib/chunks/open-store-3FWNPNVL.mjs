import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a}from"./chunk-DJNR7DL2.mjs";import"./chunk-DUIJFZGA.mjs";import"./chunk-VLNFRWK3.mjs";import"./chunk-PNMPPFCT.mjs";import"./chunk-5BEN6JAN.mjs";export{a as openStore};
